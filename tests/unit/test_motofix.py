"""moto as this project runs it (devstack/motofix.py): the same answers as moto's own code, at a cost that does not
grow with what moto holds."""

from __future__ import annotations

import inspect
import time

import boto3
import moto.backends
import moto.core.responses
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwk, jwt
from moto import mock_aws
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.table import Table
from moto.sqs.models import SQSBackend
from moto.sqs.responses import SQSResponse
from moto.utilities.utils import load_resource

from devstack import motofix

REGION = "us-east-1"


@pytest.fixture(scope="module")
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for name, keys in (("ranged", [("pk", "HASH"), ("sk", "RANGE")]), ("hashed", [("pk", "HASH")])):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S" if key == "pk" else "N"}
                                      for key, _ in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        yield client


def _pages(client, **query) -> list[list[dict]]:
    pages, start = [], {}
    while True:
        page = client.query(**query, **start)
        pages.append(page["Items"])
        if "LastEvaluatedKey" not in page:
            return pages
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _with_moto_query(monkeypatch, client, **query) -> list[list[dict]]:
    with monkeypatch.context() as patched:
        patched.setattr(Table, "query", motofix._ORIGINAL_QUERY)
        return _pages(client, **query)


items = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 30), st.text(max_size=3)), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=items, partition=st.sampled_from("abcd"), limit=st.none() | st.integers(1, 7), forward=st.booleans(),
       low=st.integers(0, 30))
def test_a_query_without_an_index_answers_as_moto_does(dynamodb, monkeypatch, items, partition, limit, forward, low):
    for table in ("ranged", "hashed"):
        for page in dynamodb.scan(TableName=table)["Items"]:
            dynamodb.delete_item(TableName=table, Key={k: v for k, v in page.items() if k in ("pk", "sk")})
    for pk, sk, value in items:
        dynamodb.put_item(TableName="ranged", Item={"pk": {"S": pk}, "sk": {"N": str(sk)}, "v": {"S": value}})
        dynamodb.put_item(TableName="hashed", Item={"pk": {"S": pk}, "v": {"S": value}})
    queries = [
        {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": partition}}},
        {"TableName": "ranged", "KeyConditionExpression": "pk = :p AND sk >= :low",
         "ExpressionAttributeValues": {":p": {"S": partition}, ":low": {"N": str(low)}}},
        {"TableName": "ranged", "KeyConditionExpression": "pk = :p", "FilterExpression": "v <> :empty",
         "ExpressionAttributeValues": {":p": {"S": partition}, ":empty": {"S": ""}}},
        {"TableName": "hashed", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": partition}}},
    ]
    for query in queries:
        query = {**query, "ScanIndexForward": forward, **({"Limit": limit} if limit else {})}
        assert _pages(dynamodb, **query) == _with_moto_query(monkeypatch, dynamodb, **query)


def test_a_query_reads_its_partition_not_the_table(dynamodb, monkeypatch):
    read_whole_table = []
    monkeypatch.setattr(Table, "all_items", lambda self: read_whole_table.append(self.name) or [])
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "only"}, "sk": {"N": "1"}})

    page = dynamodb.query(TableName="ranged", KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "only"}})

    assert [item["sk"] for item in page["Items"]] == [{"N": "1"}]
    assert read_whole_table == []


scalars = (st.builds(lambda text: {"S": text}, st.text(min_size=1, max_size=5))
           | st.builds(lambda n: {"N": str(n)}, st.integers(-5, 5))
           | st.builds(lambda flag: {"BOOL": flag}, st.booleans())
           | st.just({"NULL": True})
           | st.builds(lambda data: {"B": data}, st.binary(min_size=1, max_size=4))
           | st.builds(lambda texts: {"SS": sorted(texts)}, st.sets(st.text(min_size=1, max_size=3), min_size=1, max_size=3))
           | st.builds(lambda numbers: {"NS": sorted(map(str, numbers))}, st.sets(st.integers(0, 9), min_size=1, max_size=3)))
values = st.recursive(scalars, lambda inner: st.builds(lambda members: {"L": members}, st.lists(inner, max_size=3))
                      | st.builds(lambda members: {"M": members}, st.dictionaries(st.text(min_size=1, max_size=3),
                                                                                 inner, max_size=3)), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attributes=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=4))
def test_dynamodb_answers_carry_every_attribute_value_as_moto_writes_them(dynamodb, monkeypatch, attributes):
    key = {"pk": {"S": "values"}, "sk": {"N": "1"}}
    item = {**key, **attributes, "z": {"N": "1"}}
    dynamodb.put_item(TableName="ranged", Item=item)
    reads = {
        "GetItem": lambda: dynamodb.get_item(TableName="ranged", Key=key)["Item"],
        "Query": lambda: dynamodb.query(TableName="ranged", KeyConditionExpression="pk = :p",
                                        ExpressionAttributeValues={":p": {"S": "values"}})["Items"],
        "BatchGetItem": lambda: dynamodb.batch_get_item(RequestItems={"ranged": {"Keys": [key]}})["Responses"],
        "UpdateItem": lambda: dynamodb.update_item(TableName="ranged", Key=key, UpdateExpression="SET z = :z",
                                                   ExpressionAttributeValues={":z": {"N": "1"}},
                                                   ReturnValues="ALL_NEW")["Attributes"],
    }
    fast = {name: read() for name, read in reads.items()}
    with monkeypatch.context() as patched:
        patched.setattr(BaseJSONSerializer, "_serialize_type_structure", motofix._ORIGINAL_SERIALIZE_STRUCTURE)
        assert {name: read() for name, read in reads.items()} == fast
    assert fast["GetItem"] == fast["UpdateItem"] == item


def test_a_failed_transaction_changes_nothing(dynamodb):
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "t"}, "sk": {"N": "1"}, "n": {"N": "1"}})
    update = {"TableName": "ranged", "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}},
              "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
    new = {"TableName": "ranged", "Item": {"pk": {"S": "t"}, "sk": {"N": "2"}}}
    refused = {"TableName": "ranged", "Key": {"pk": {"S": "t"}, "sk": {"N": "3"}},
               "ConditionExpression": "attribute_exists(pk)", "UpdateExpression": "SET n = :one",
               "ExpressionAttributeValues": {":one": {"N": "1"}}}

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        dynamodb.transact_write_items(TransactItems=[{"Update": update}, {"Put": new}, {"Update": refused}])

    stored = dynamodb.query(TableName="ranged", KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "t"}})["Items"]
    assert stored == [{"pk": {"S": "t"}, "sk": {"N": "1"}, "n": {"N": "1"}}]
    dynamodb.transact_write_items(TransactItems=[{"Update": update}, {"Put": new}])
    assert dynamodb.get_item(TableName="ranged", Key=update["Key"])["Item"]["n"] == {"N": "2"}


def test_a_message_is_kept_for_the_queue_s_retention_period_as_moto_keeps_it():
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="kept", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="m")
        backend: SQSBackend = moto.backends.get_backend("sqs")["123456789012"][REGION]
        message = backend.get_queue("kept")._messages[0]
        for age, kept in ((59, True), (61, False)):
            message.sent_timestamp = int((time.time() - age) * 1000)
            assert motofix.is_message_valid_based_on_retention_period(backend, "kept", message) is kept
            assert motofix._ORIGINAL_RETENTION(backend, "kept", message) is kept


class _Plain:
    group_id = None


class _Racing:
    """A message in flight whose group is read while another request's thread adds a message to the queue's set."""

    def __init__(self, queue) -> None:
        self.queue = queue

    @property
    def group_id(self) -> str:
        self.queue._pending_messages.add(_Plain())
        return "g"


def test_the_groups_in_flight_are_moto_s_and_are_read_whatever_another_request_adds_meanwhile():
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="groups.fifo", Attributes={"FifoQueue": "true",
                                                                     "ContentBasedDeduplication": "true"})["QueueUrl"]
        for group in "ab":
            sqs.send_message(QueueUrl=url, MessageBody=group, MessageGroupId=group)
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 2
        queue = moto.backends.get_backend("sqs")["123456789012"][REGION].get_queue("groups.fifo")
        assert queue.pending_message_groups == motofix._ORIGINAL_GROUPS.fget(queue) == {"a", "b"}
        queue._pending_messages.add(_Racing(queue))
        with pytest.raises(RuntimeError, match="changed size during iteration"):
            motofix._ORIGINAL_GROUPS.fget(queue)
        assert queue.pending_message_groups == {"a", "b", "g"}


def test_the_listing_of_moto_s_services_is_read_once_and_is_moto_s_own():
    assert list(moto.backends.list_of_moto_modules()) == list(motofix._MOTO_MODULES())
    assert "s3" in moto.backends.list_of_moto_modules() and "dynamodb" in moto.backends.list_of_moto_modules()
    assert moto.backends.list_of_moto_modules() is moto.backends.list_of_moto_modules()


def test_each_response_class_s_actions_are_listed_once_and_are_moto_s_own(monkeypatch):
    listed: list[object] = []
    getmembers = inspect.getmembers
    monkeypatch.setattr(inspect, "getmembers", lambda cls, *a, **k: listed.append(cls) or getmembers(cls, *a, **k))
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="listed")["QueueUrl"]
        for _ in range(3):
            sqs.send_message(QueueUrl=url, MessageBody="m")
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert listed.count(SQSResponse) <= 1  # moto's own code lists the class for each of the 7 requests
    assert moto.core.responses.method_names_from_class(SQSResponse) == motofix.method_names_from_class(SQSResponse)


def test_user_pools_share_moto_s_one_signing_key_imported_once_and_their_tokens_verify():
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pools = [cognito.create_user_pool(PoolName=name)["UserPool"]["Id"] for name in ("a", "b")]
        backend = moto.backends.get_backend("cognito-idp")["123456789012"][REGION]
        first, second = (backend.user_pools[pool].json_web_key for pool in pools)
        assert first is second
        # The key moto ships, as its own import gives it: its public half is the one moto publishes for every pool.
        shipped = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
        assert first.as_dict(private=True) == shipped.as_dict(private=True)
        client = cognito.create_user_pool_client(UserPoolId=pools[1], ClientName="c",
                                                 ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"])["UserPoolClient"]
        cognito.admin_create_user(UserPoolId=pools[1], Username="u", TemporaryPassword="Temp-pass-1",
                                  MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=pools[1], Username="u", Password="Final-pass-1", Permanent=True)
        token = cognito.admin_initiate_auth(UserPoolId=pools[1], ClientId=client["ClientId"],
                                            AuthFlow="ADMIN_NO_SRP_AUTH",
                                            AuthParameters={"USERNAME": "u", "PASSWORD": "Final-pass-1"})
        published = jwk.KeySet.import_key_set(load_resource("cognitoidp/resources/jwks-public.json"))
        claims = jwt.decode(token["AuthenticationResult"]["IdToken"], published).claims
        assert claims["cognito:username"] == "u"
