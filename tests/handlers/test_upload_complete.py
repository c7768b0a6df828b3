"""The completion Lambda under moto: both event transports, every record, skips that never retry, errors that do."""

import json
import uuid

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from devstack import s3events
from handlers import layout
from tests.conftest import BUCKET, REGION, TABLE, load_handler
from tests.handlers.conftest import Api, LambdaContext, upload


class FakeLambda:
    """The ingest function's Invoke API: records async invokes, or fails them when told to."""

    def __init__(self):
        self.invokes = []
        self.fail_next = 0

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803 - boto3's keyword names
        if self.fail_next:
            self.fail_next -= 1
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
        self.invokes.append((FunctionName, InvocationType, json.loads(Payload)))
        return {"StatusCode": 202}


@pytest.fixture(scope="module")
def handlers(aws_module):
    api = Api(load_handler("handlers.api.app"))
    return api, load_handler("handlers.upload_complete.app")


@pytest.fixture
def fake_lambda(handlers, monkeypatch):
    _, module = handlers
    fake = FakeLambda()
    monkeypatch.setattr(module.ingest, "_client", fake)
    return fake


def s3_record(key, size=2048, event_name="ObjectCreated:Put", encode=True):
    if layout.parse_key(key):
        upload(key)
    return s3events.notification_record(BUCKET, key, size=size, etag="abc123", event_name=event_name, encode=encode)


def bridge_event(key, detail_type="Object Created", size=2048):
    if layout.parse_key(key):
        upload(key)
    return s3events.object_created(BUCKET, key, size=size, etag="abc123", detail_type=detail_type)


def items_of(session_id):
    """Every item of the session's partition, as the table holds them."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    return table.query(KeyConditionExpression=Key("sessionId").eq(session_id), ConsistentRead=True)["Items"]


def windows(module, session_id):
    return {w.index: w for w in module.store.windows(session_id)}


def ingested(module, session_id):
    return {index for index, w in windows(module, session_id).items() if w.ingested}


def test_every_record_of_an_s3_notification_is_handled_with_url_decoded_keys(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    event = {"Records": [s3_record(layout.audio_key(sid, w), size=100 + w) for w in (0, 1, 2)]}
    assert module.lambda_handler(event, LambdaContext()) == {"handled": 3}
    recorded = windows(module, sid)
    assert sorted(recorded) == [0, 1, 2] and all(w.recorded for w in recorded.values())
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=layout.audio_key(sid, 2))
    assert (recorded[2].audio.size_bytes, recorded[2].audio.etag) == (head["ContentLength"], head["ETag"])
    assert sorted(p["windowIndex"] for _, kind, p in fake_lambda.invokes if kind == "Event") == [0, 1, 2]
    assert {name for name, _, _ in fake_lambda.invokes} == {"session-uploads-ingest-test"}


def test_eventbridge_object_created_is_handled_with_the_raw_key(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    assert module.lambda_handler(bridge_event(layout.audio_key(sid, 4)), LambdaContext()) == {"handled": 1}
    assert ingested(module, sid) == {4}
    assert fake_lambda.invokes[0][2] == {"sessionId": sid, "userId": "alice", "windowIndex": 4, "frameCount": 0}


def test_eventbridge_events_other_than_object_created_are_ignored(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    assert module.lambda_handler(bridge_event(layout.audio_key(sid, 0), "Object Tags Added"), LambdaContext()) == {
        "handled": 0
    }
    assert windows(module, sid) == {} and fake_lambda.invokes == []


def test_duplicate_notifications_ingest_once(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    record = s3_record(layout.audio_key(sid, 9))
    module.lambda_handler({"Records": [record, record]}, LambdaContext())
    module.lambda_handler({"Records": [record]}, LambdaContext())
    module.lambda_handler(bridge_event(layout.audio_key(sid, 9)), LambdaContext())
    assert len(fake_lambda.invokes) == 1


def test_foreign_keys_and_unknown_sessions_are_skipped_counted_and_never_retried(handlers, fake_lambda, capsys):
    api, module = handlers
    ghost = str(uuid.uuid4())
    records = [
        s3_record("uploads/elsewhere.wav"),
        s3_record("sessions/../../etc/passwd"),
        s3_record(f"sessions/{ghost}/window_001/audio.wav"),
        s3_record("sessions/%00/window_001/audio.wav", encode=False),
    ]
    assert module.lambda_handler({"Records": records}, LambdaContext()) == {"handled": 4}
    assert items_of(ghost) == []  # no header, no window item
    assert fake_lambda.invokes == []
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics[-1]["ForeignKeysSkipped"] == [1.0, 1.0, 1.0]
    assert metrics[-1]["UnknownSessionsSkipped"] == [1.0]


def test_a_failed_invoke_raises_after_handling_the_other_records_and_the_retry_ingests_once(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    event = {"Records": [s3_record(layout.audio_key(sid, 0)), s3_record(layout.audio_key(sid, 1))]}
    fake_lambda.fail_next = 1
    with pytest.raises(ClientError, match="TooManyRequests"):
        module.lambda_handler(event, LambdaContext())
    assert [p["windowIndex"] for _, _, p in fake_lambda.invokes] == [1]  # window 1 was not held back by window 0
    module.lambda_handler(event, LambdaContext())  # Lambda's async retry of the same event
    assert sorted(p["windowIndex"] for _, _, p in fake_lambda.invokes) == [0, 1]
    assert ingested(module, sid) == {0, 1}


def test_a_dynamodb_throttle_propagates_so_the_event_is_retried(handlers, fake_lambda, monkeypatch):
    api, module = handlers
    sid = api.create()
    throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "UpdateItem")

    def throttled(**_):
        raise throttle

    monkeypatch.setattr(module.store._table.meta.client, "transact_write_items", throttled)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        module.lambda_handler({"Records": [s3_record(layout.audio_key(sid, 0))]}, LambdaContext())
    assert fake_lambda.invokes == []


def test_non_create_s3_records_are_ignored(handlers, fake_lambda):
    api, module = handlers
    sid = api.create()
    event = {"Records": [s3_record(layout.audio_key(sid, 0), event_name="ObjectRemoved:Delete")]}
    assert module.lambda_handler(event, LambdaContext()) == {"handled": 0}
    assert fake_lambda.invokes == []


def test_a_refused_upload_is_counted_quarantined_and_never_retried(handlers, fake_lambda, capsys):
    api, module = handlers
    sid = api.create()
    key = upload(layout.audio_key(sid, 0), body=b"ID3" + bytes(500))  # an MP3 named audio.wav
    event = {"Records": [s3events.notification_record(BUCKET, key, size=503, etag="e")]}
    assert module.lambda_handler(event, LambdaContext()) == {"handled": 1}
    assert fake_lambda.invokes == []
    assert windows(module, sid)[0].invalid == "audio: not a RIFF/WAVE file"
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=layout.session_prefix(sid)).get("KeyCount") == 0
    moved = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{layout.QUARANTINE_PREFIX}{sid}/")["Contents"]
    assert [m["Key"].startswith(f"{layout.QUARANTINE_PREFIX}{sid}/window_000/audio.wav.") for m in moved] == [True]
    assert module.lambda_handler(event, LambdaContext()) == {"handled": 1}  # redelivered: the object is gone
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m.get("InvalidUploads") for m in metrics[-2:]] == [[1.0], None]
    assert [m.get("MissingObjectsSkipped") for m in metrics[-2:]] == [None, [1.0]]
