"""moto's TransactWriteItems, at a constant cost per transaction.

moto 5.2.5 rolls a failed transaction back by deep-copying every table it touches before it starts: the cost of
each transaction grows with the table, so a 10,000-window session spends seconds per completion event (real
DynamoDB's cost is per item). This runs moto's own implementation unchanged except that the table copy is skipped,
and rolls back by restoring only the items the transaction touches: the same all-or-nothing outcome.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

_ORIGINAL = DynamoDBBackend.transact_write_items


class _NoTableCopy:
    """Stands in for the `copy` module inside moto's function: its whole-table "backup" is the table itself."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value


_WITHOUT_TABLE_COPY = types.FunctionType(
    _ORIGINAL.__code__, {**vars(dynamodb_models), "copy": _NoTableCopy}, _ORIGINAL.__name__, _ORIGINAL.__defaults__
)


def _touched_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple]:
    touched = []
    for entry in transact_items:
        op = next(iter(entry.values()), {})
        try:
            table = backend.get_table(op["TableName"])
            attributes = op.get("Key") or op["Item"]
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        except Exception:  # noqa: BLE001 - a malformed entry: moto's own code raises the right error for it
            continue
        touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return touched


def _restore(table: Any, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    touched = _touched_items(self, transact_items)
    try:
        _WITHOUT_TABLE_COPY(self, transact_items)
    except Exception:
        for entry in reversed(touched):
            _restore(*entry)
        raise


def install() -> None:
    """Idempotent; for the local stack's moto server and the tests' in-process moto alike."""
    DynamoDBBackend.transact_write_items = transact_write_items
