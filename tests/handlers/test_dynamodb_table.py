"""The handlers' table on a plain client reads and writes exactly what boto3's Table resource does."""

from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from handlers.dal.dynamodb import Table
from tests.conftest import REGION, TABLE

ITEM = {
    "sessionId": "s-1",
    "sk": "window#00001",
    "size": 2048,
    "ratio": Decimal("0.25"),
    "tags": {"a", "b"},
    "halves": {"audio": {"etag": '"abc"', "recordedAt": "2026-01-01T00:00:00Z", "frames": None}},
    "flags": [True, False],
    "blob": b"\x00\x01",
}


@pytest.fixture
def tables(aws):
    resource = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    return resource, Table(boto3.client("dynamodb", region_name=REGION), TABLE)


def _both(tables, call):
    """`call` on the resource, then on the plain client's table (each on its own items): both answers."""
    return [call(table, f"{kind}-") for kind, table in zip(("resource", "client"), tables, strict=True)]


def test_items_round_trip_with_python_types_and_the_callers_item_is_not_changed(tables):
    def put_then_get(table, prefix):
        item = {**ITEM, "sessionId": prefix + ITEM["sessionId"]}
        table.put_item(Item=item, ConditionExpression=Attr("sessionId").not_exists())
        assert item == {**ITEM, "sessionId": prefix + ITEM["sessionId"]}
        got = table.get_item(Key={"sessionId": item["sessionId"], "sk": item["sk"]}, ConsistentRead=True)["Item"]
        return {**got, "sessionId": got["sessionId"].removeprefix(prefix)}

    by_resource, by_client = _both(tables, put_then_get)
    assert by_resource == by_client == {**ITEM, "blob": boto3.dynamodb.types.Binary(ITEM["blob"])}


def test_conditional_writes_fail_alike(tables):
    def put_twice(table, prefix):
        item = {**ITEM, "sessionId": prefix + ITEM["sessionId"]}
        table.put_item(Item=item)
        with pytest.raises(table.meta.client.exceptions.ConditionalCheckFailedException) as refused:
            table.put_item(Item=item, ConditionExpression="attribute_not_exists(sessionId)")
        return refused.value.response["Error"]["Code"]

    assert _both(tables, put_twice) == ["ConditionalCheckFailedException"] * 2


def test_updates_queries_and_transactions_on_meta_client_alike(tables):
    def exercise(table, prefix):
        sid = prefix + "s-2"
        for index in range(3):
            table.put_item(Item={"sessionId": sid, "sk": f"window#{index:05d}", "n": index})
        updated = table.update_item(
            Key={"sessionId": sid, "sk": "window#00001"},
            UpdateExpression="SET n = n + :one, labels = :labels",
            ConditionExpression=Attr("n").eq(1),
            ExpressionAttributeValues={":one": 1, ":labels": ["x", Decimal("1.5")]},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        table.meta.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table.name,
                        "Key": {"sessionId": sid, "sk": "window#00002"},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": Decimal(7)},
                    }
                }
            ]
        )
        page = table.query(
            KeyConditionExpression=Key("sessionId").eq(sid) & Key("sk").between("window#00001", "window#99999"),
            ConsistentRead=True,
        )
        batch = table.meta.client.batch_get_item(
            RequestItems={table.name: {"Keys": [{"sessionId": sid, "sk": "window#00000"}], "ConsistentRead": True}}
        )["Responses"][table.name]
        strip = lambda items: [{**i, "sessionId": i["sessionId"].removeprefix(prefix)} for i in items]  # noqa: E731
        return strip([updated]), strip(page["Items"]), page["Count"], strip(batch)

    by_resource, by_client = _both(tables, exercise)
    assert by_resource == by_client
    assert by_client[1] == [
        {"sessionId": "s-2", "sk": "window#00001", "n": 2, "labels": ["x", Decimal("1.5")]},
        {"sessionId": "s-2", "sk": "window#00002", "n": 7},
    ]
