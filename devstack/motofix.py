"""Seven of moto's costs that grow with what it holds or that it pays again for each request or resource, made
constant (or per partition) or paid once, each giving moto's own answer.

- TransactWriteItems: moto 5.2.5 rolls a failed transaction back by deep-copying every table it touches before it
  starts, so the cost of each transaction grows with the table, and a 10,000-window session spends seconds per
  completion event (real DynamoDB's cost is per item). This runs moto's own implementation unchanged except that
  the table copy is skipped, and rolls back by restoring only the items the transaction touches: the same
  all-or-nothing outcome.
- Query without an index: moto reads every item of the table, sorts them all, and keeps the queried partition's, so
  a session's status read cost 0.2 s of CPU once 3,000 windows were stored, and grew with every window of every
  session. Here moto's own query reads the partition alone, in the same order: the same answer.
- DynamoDB's answers: moto serializes every attribute value member by member through its generic serializer (60
  lookups per item), 1.5 ms per item of a 100-window Query, most of its cost. An attribute value already in its
  wire form (strings, numbers, booleans, null, string and number sets, maps and lists of those) is written as it
  is; any other (binary, say) goes through moto's serializer.
- The server's dispatch: for every request, under one lock for all requests, moto lists its own package directory
  (about 150 `isdir` calls) to tell whether a host names a service. The listing cannot change while moto runs; it
  is read once. This was a tenth of the local stack's moto CPU under load.
- ReceiveMessage: for each message it returns, moto checks the queue's retention period by computing all the
  queue's attributes, three of which count every message in it: a receive of 10 from a queue of 500 cost 0.5 s of
  CPU. The same check here reads the period from the queue.
- Each request's action: moto lists every function of the handling class (`inspect.getmembers`) to tell whether
  it has the action, 0.1 to 0.2 ms a request (DynamoDB, SQS, S3); a class's functions are listed once here.
- Each user pool's signing key: moto ships one private key (jwks-private.json) and imports it again for each new
  user pool, 0.2 to 0.4 s of CPU (joserfc recovers its primes), once per local stack start. It is imported once
  here, and the pools share the key, which only signs.

And one race. Each ReceiveMessage starts by listing the message groups of the queue's messages in flight, iterating
the queue's set of them while another request's receive or delete may add to it or take from it: "Set changed size
during iteration", a 500 to the receive, which botocore retries. The local stack's relay receives from one queue in
four threads, and a `make soak` run met it. Here the groups are read from a copy of the set, taken in one step.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import types
from typing import Any

import moto.backends
import moto.cognitoidp.models as cognitoidp_models
import moto.core.responses
import moto.dynamodb.models as dynamodb_models
from joserfc import jwk
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import method_names_from_class, unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.sqs.models import Message, Queue, SQSBackend

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


_ORIGINAL_QUERY = Table.query
_QUERY_PARAMETERS = inspect.signature(_ORIGINAL_QUERY)


class _OnePartition:
    """A table as moto's Query reads it when it names no index: `all_items()` is the queried partition alone (moto
    keeps a partition's items under its hash key; the query sorts them by range key itself); the rest is the table."""

    def __init__(self, table: Table, hash_key: DynamoType):
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list:
        partition = self._table.items.get(self._hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self._table.range_key_attr else [partition]


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    arguments = _QUERY_PARAMETERS.bind(self, *args, **kwargs).arguments
    if arguments.get("index_name") or arguments.get("hash_key") is None:
        return _ORIGINAL_QUERY(self, *args, **kwargs)
    return _ORIGINAL_QUERY(_OnePartition(self, arguments["hash_key"]), *args, **kwargs)


_ORIGINAL_SERIALIZE_STRUCTURE = BaseJSONSerializer._serialize_type_structure
_STRINGS = frozenset({"S", "N"})


def _wire_form(value: Any) -> Any:
    """A copy of a DynamoDB attribute value already in its JSON wire form, or None when it is not."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind in _STRINGS:
        plain = type(inner) is str
    elif kind == "BOOL":
        plain = type(inner) is bool
    elif kind == "NULL":
        plain = inner is True
    elif kind in ("SS", "NS"):
        plain = type(inner) is list and all(type(member) is str for member in inner)
        inner = list(inner)
    elif kind == "M" and type(inner) is dict:
        inner = {name: _wire_form(member) for name, member in inner.items()}
        plain = all(type(name) is str and member is not None for name, member in inner.items())
    elif kind == "L" and type(inner) is list:
        inner = [_wire_form(member) for member in inner]
        plain = all(member is not None for member in inner)
    else:
        plain = False
    return {kind: inner} if plain else None


def serialize_type_structure(self: BaseJSONSerializer, serialized: dict, value: Any, shape: Any, key: str) -> None:
    if key and shape.name == "AttributeValue":
        wire = _wire_form(value)
        if wire is not None:
            self._default_serialize(serialized, wire, shape, key)
            return
    _ORIGINAL_SERIALIZE_STRUCTURE(self, serialized, value, shape, key)


_ORIGINAL_RETENTION = SQSBackend.is_message_valid_based_on_retention_period


def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
    retention_seconds = self.get_queue(queue_name).message_retention_period
    return retention_seconds + message.sent_timestamp / 1000 > unix_time()


_ORIGINAL_GROUPS = Queue.pending_message_groups


def pending_message_groups(self: Queue) -> set[str]:
    # list() copies the set in one step, under the interpreter lock; a comprehension over the set itself runs bytecode
    # between its steps, where the interpreter may switch to another request's thread, which changes the set.
    return {message.group_id for message in list(self._pending_messages) if message.group_id is not None}


_MOTO_MODULES = moto.backends.list_of_moto_modules


@functools.cache
def _listed_once() -> tuple[str, ...]:
    return tuple(_MOTO_MODULES())


_method_names_once = functools.cache(method_names_from_class)


class _RSAKey(jwk.RSAKey):
    @classmethod
    def import_key(cls, value: Any, *args: Any, **kwargs: Any) -> jwk.RSAKey:
        if isinstance(value, dict) and not args and not kwargs:
            return _imported(json.dumps(value, sort_keys=True))
        return super().import_key(value, *args, **kwargs)


@functools.cache
def _imported(key: str) -> jwk.RSAKey:
    return jwk.RSAKey.import_key(json.loads(key))


# joserfc's `jwk` module as moto's Cognito models see it: the same, with RSA keys given as a JWK imported once.
_COGNITO_JWK = types.SimpleNamespace(**{**vars(jwk), "RSAKey": _RSAKey})


def preload() -> None:
    """What the local stack's forkserver computes once before it forks each moto (devstack/moto_process.py)."""
    cognitoidp_models.jwk.RSAKey.import_key(cognitoidp_models.load_resource("cognitoidp/resources/jwks-private.json"))


def install() -> None:
    """Idempotent; for the local stack's moto server and the tests' in-process moto alike."""
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.query = query
    BaseJSONSerializer._serialize_type_structure = serialize_type_structure
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    Queue.pending_message_groups = property(pending_message_groups)
    moto.backends.list_of_moto_modules = _listed_once
    moto.core.responses.method_names_from_class = _method_names_once
    cognitoidp_models.jwk = _COGNITO_JWK
