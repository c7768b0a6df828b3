"""In process, moto's DynamoDB takes one request at a time (tests/conftest.py, serialized_dynamodb), so its
conditional writes are atomic as DynamoDB's are: unserialized, 16 threads racing for one item's claim have several
winners, and the handlers that write from several threads (the sweeper's heal) would be tested on a table that loses
their races. Other services stay concurrent."""

from __future__ import annotations

import threading
import time

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.s3.models import S3Backend

from tests.conftest import BUCKET, REGION, create_table

THREADS = 4
HELD = 0.05  # seconds each request stays inside moto's backend


class Inside:
    """How many calls of a backend method run at once, at most: `patch` puts the counting method in its place."""

    def __init__(self, monkeypatch, backend, name):
        self.now = self.most = 0
        lock, method = threading.Lock(), getattr(backend, name)

        def counted(*args, **kwargs):
            with lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(HELD)  # lets any other thread in, as a thread switch mid-write would
                return method(*args, **kwargs)
            finally:
                with lock:
                    self.now -= 1

        monkeypatch.setattr(backend, name, counted)


def at_once(calls):
    start = threading.Barrier(len(calls))

    failures = []

    def run(call):
        start.wait()
        try:
            call()
        except Exception as error:  # noqa: BLE001 - reported by the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_dynamodb_requests_enter_moto_one_at_a_time_and_s3_requests_together(monkeypatch):
    updates = Inside(monkeypatch, DynamoDBBackend, "update_item")
    puts = Inside(monkeypatch, S3Backend, "put_object")
    with mock_aws():
        table = create_table(boto3.resource("dynamodb", region_name=REGION))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        at_once([
            lambda n=n: table.update_item(
                Key={"sessionId": "session", "sk": "claim"},
                UpdateExpression="SET #by = :writer",
                ConditionExpression="attribute_not_exists(#by)",
                ExpressionAttributeNames={"#by": "claimedBy"},
                ExpressionAttributeValues={":writer": n},
            ) if n == 0 else table.update_item(
                Key={"sessionId": "session", "sk": f"other-{n}"},
                UpdateExpression="SET #by = :writer",
                ExpressionAttributeNames={"#by": "claimedBy"},
                ExpressionAttributeValues={":writer": n},
            )
            for n in range(THREADS)
        ])
        at_once([lambda n=n: s3.put_object(Bucket=BUCKET, Key=f"k{n}", Body=b"x") for n in range(THREADS)])
    assert (updates.most, puts.most) == (1, THREADS)
