"""bench.cost's meter bills DynamoDB calls as DynamoDB does: item sizes, transactions, batches, queries, the index."""

import boto3
import pytest
from moto import mock_aws

from bench.cost import Meter, item_bytes
from handlers import contract
from tests.conftest import REGION, TABLE, create_table

HEADER = {contract.TABLE_HASH_KEY: "s", contract.TABLE_RANGE_KEY: "session"}
WINDOW = {contract.TABLE_HASH_KEY: "s", contract.TABLE_RANGE_KEY: "window#00000"}


@pytest.fixture
def metered():
    """A table, a Meter on a session of its own, and a Table resource whose calls that Meter counts."""
    with mock_aws():
        create_table(boto3.resource("dynamodb", region_name=REGION))
        session = boto3.session.Session(region_name=REGION)
        meter = Meter(region=REGION)
        session.events.register("before-call", meter.before_call)
        session.events.register("after-call", meter.after_call)
        meter.function = "f"
        yield meter, session.resource("dynamodb").Table(TABLE)


def wcu(meter):
    return dict(meter.usage.wcu)


def test_a_write_costs_1_kb_units_of_the_larger_image_before_or_after(metered):
    meter, table = metered
    table.put_item(Item={**WINDOW, "payload": "x" * 1500})
    assert wcu(meter) == {("f", "window: first half"): 2}  # a new window's item is written whole
    table.update_item(Key=WINDOW, UpdateExpression="REMOVE payload")  # 1.5 KB before, a few bytes after
    table.update_item(Key=WINDOW, UpdateExpression="SET ingestedAt = :t", ExpressionAttributeValues={":t": 1})
    assert wcu(meter) == {("f", "window: first half"): 2 + 2, ("f", "window: confirm"): 1}


def test_a_failed_condition_is_billed_too(metered):
    meter, table = metered
    with pytest.raises(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.update_item(Key=HEADER, UpdateExpression="SET a = :a", ConditionExpression="attribute_exists(sk)",
                          ExpressionAttributeValues={":a": 1})
    assert wcu(meter) == {("f", "header: UpdateItem"): 1}


def test_each_write_in_a_transaction_costs_twice(metered):
    meter, table = metered
    table.put_item(Item={**HEADER, "payload": "x" * 1100})
    meter.usage.wcu.clear()
    table.meta.client.transact_write_items(TransactItems=[
        {"Update": {"TableName": table.name, "Key": WINDOW, "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": 1}}},
        {"Update": {"TableName": table.name, "Key": HEADER, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": 1}}},
    ])
    assert wcu(meter) == {("f", "window: transaction"): 2, ("f", "header: transaction"): 4}


def test_a_batch_get_reads_each_key_as_a_get_an_absent_one_included(metered):
    meter, table = metered
    table.put_item(Item={**HEADER, "payload": "x" * 5000})
    table.meta.client.batch_get_item(RequestItems={table.name: {"Keys": [HEADER, WINDOW], "ConsistentRead": True}})
    table.get_item(Key=HEADER)  # eventually consistent: half
    assert dict(meter.usage.rcu) == {("f", "BatchGetItem"): 2 + 1, ("f", "GetItem"): 1.0}


def test_a_query_is_billed_on_every_item_it_evaluates_whatever_it_returns(metered):
    meter, table = metered
    for w in range(3):
        table.put_item(Item={**WINDOW, contract.TABLE_RANGE_KEY: f"window#{w:05d}", "payload": "x" * 3000})
    table.query(KeyConditionExpression="sessionId = :s", FilterExpression="attribute_exists(nothing)",
                Select="COUNT", ExpressionAttributeValues={":s": "s"}, ConsistentRead=True)
    assert dict(meter.usage.rcu) == {("f", "Query"): 3}  # 3 x ~3 KB summed, then 4 KB units


def test_the_sparse_index_costs_a_write_when_the_header_enters_it_and_none_while_it_is_out(metered):
    meter, table = metered
    table.put_item(Item={**HEADER, "status": "recording"})
    table.update_item(Key=HEADER, UpdateExpression="SET #s = :f, #k = :p, #r = :t",
                      ExpressionAttributeNames={"#s": "status", "#k": contract.PENDING_INDEX_HASH_KEY,
                                                "#r": contract.PENDING_INDEX_RANGE_KEY},
                      ExpressionAttributeValues={":f": "finalizing", ":p": contract.PENDING_MARK, ":t": 1})
    table.update_item(Key=HEADER, UpdateExpression="SET recordedCount = :n", ExpressionAttributeValues={":n": 1})
    assert wcu(meter) == {("f", "header: PutItem"): 1, ("f", "header: UpdateItem"): (1 + 1) + (1 + 0)}
    assert item_bytes(meter.item(table.name, {k: {"S": v} for k, v in HEADER.items()})) > 0


def test_a_request_dynamodb_refuses_as_invalid_costs_nothing(metered):
    meter, table = metered
    with pytest.raises(table.meta.client.exceptions.ClientError):
        table.update_item(Key=HEADER, UpdateExpression="SET blob = :b", ExpressionAttributeValues={":b": 1})
    assert wcu(meter) == {}
