"""The operator tool's reads on a deployed stack (moto), and the IAM policy it prints: enough for them, and no more."""

from __future__ import annotations

import functools
import json
import time

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.sqs.models import SQSBackend
from pulumi_policy import ResourceValidationArgs

from devstack import s3events, samples
from devstack.relay import failure_record
from handlers import contract, layout
from handlers.dal.objects import S3Objects
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completeness, completion
from handlers.domain.sessions import create_session
from ops import dlq
from ops.cli import main
from ops.iam import operator_policy
from ops.target import from_outputs
from policies import iam as iam_policies
from tests.conftest import BUCKET, REGION, TABLE, run_cli
from tests.unit.test_completion import RecordingIngest

run = functools.partial(run_cli, main)


class World:
    """Sessions made by the domain code itself, in the moto stack the outputs file names."""

    def __init__(self, path, values):
        self.path, self.values = str(path), values
        self.store = SessionsTable(boto3.resource("dynamodb", region_name=REGION).Table(TABLE), time.time, 45)
        self.pipeline = completion.Pipeline(store=self.store, objects=S3Objects(boto3.client("s3", region_name=REGION),
                                                                                 BUCKET),
                                            ingest=RecordingIngest(), processing=RecordingIngest())
        self.s3 = boto3.client("s3", region_name=REGION)

    def session(self, user="alice", mode="audio_only"):
        return create_session(user, mode, store=self.store, retention_days=30)["sessionId"]

    def upload(self, session_id, window, *, event=True):
        key = layout.audio_key(session_id, window)
        body = samples.wav_bytes()
        etag = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')
        if event:
            completion.object_created(completion.ObjectCreated(key, len(body), etag), self.pipeline)

    def complete(self, session_id, n, user="alice"):
        completeness.complete_session(session_id, user, n, store=self.store, trigger=RecordingIngest())

    def ops(self, capsys, *argv):
        return run(capsys, "--outputs", self.path, *argv)


@pytest.fixture
def world(deployed):
    return World(*deployed)


def test_session_show_reads_any_user_s_session_with_its_windows(world, capsys):
    session_id = world.session(user="carol")
    world.upload(session_id, 0)
    world.upload(session_id, 2)
    world.complete(session_id, 3, user="carol")

    code, out, _ = world.ops(capsys, "session", "show", session_id, "--windows", "--json")

    assert code == 0
    shown = json.loads(out)
    assert shown["header"]["userId"] == "carol" and "finalizingAt" in shown["header"]
    assert (shown["status"]["status"], shown["status"]["missingWindows"]) == ("finalizing", [[1, 1]])
    assert [(w["windowIndex"], w["recorded"], w["ingested"]) for w in shown["windows"]] == [(0, True, True),
                                                                                            (2, True, True)]
    code, out, _ = world.ops(capsys, "session", "show", session_id)
    lines = {line.split("  ", 1)[0]: line.split("  ", 1)[-1].strip() for line in out.splitlines()}
    assert code == 0 and (lines["missing"], lines["owner"]) == ("1 (1)", "carol")


def test_sessions_list_by_status_through_the_index_or_a_scan(world, capsys):
    recording, finalizing, ready = world.session(), world.session(), world.session()
    world.complete(finalizing, 1)
    world.complete(ready, 0)

    def listed(*argv):
        code, out, _ = world.ops(capsys, "sessions", "list", *argv, "--json")
        assert code == 0
        return [row["sessionId"] for row in json.loads(out)]

    assert listed("--status", "finalizing") == [finalizing]
    assert listed("--status", "finalizing", "--older-than", "1h") == []
    assert listed("--status", "recording") == [recording]
    assert listed("--status", "ready") == [ready]
    assert listed("--status", "incomplete") == []
    assert len(listed("--status", "recording", "--limit", "1")) == 1
    code, out, err = world.ops(capsys, "sessions", "list", "--status", "finalizing")
    assert code == 0 and out.splitlines()[0].startswith("SESSION") and finalizing in out
    assert err == "1 finalizing session\n"


def test_reconcile_dry_run_reports_unrecorded_objects_and_changes_nothing(world, capsys):
    session_id = world.session()
    world.upload(session_id, 0)
    world.upload(session_id, 1, event=False)
    before = list(world.store.windows(session_id))

    code, out, _ = world.ops(capsys, "reconcile", "--session", session_id, "--dry-run", "--json")

    assert code == 0
    [report] = json.loads(out)["sessions"]
    assert report["unrecorded"] == [layout.audio_key(session_id, 1)] and report["replayed"] == []
    assert (report["objects"], report["recordedHalves"], report["statusAfter"]) == (2, 1, "recording")
    assert list(world.store.windows(session_id)) == before
    code, out, _ = world.ops(capsys, "reconcile", "--session", session_id, "--dry-run")
    assert out.splitlines()[-1] == "reconciled 1 session: would replay 1, failed 0"


def test_dlq_show_reads_both_kinds_of_record_and_leaves_them(world, capsys):
    sqs = boto3.client("sqs", region_name=REGION)
    key = layout.audio_key(world.session(), 4)
    event = s3events.notification(s3events.notification_record(BUCKET, key))
    record = failure_record("arn:aws:lambda:eu-west-1:123456789012:function:upload-completion", event, "r-1",
                            RuntimeError("ingest down"), 3)
    sqs.send_message(QueueUrl=world.values["dlqUrl"], MessageBody=json.dumps(record))
    # What an EventBridge rule's DLQ holds: the event itself, the reason in attributes.
    sqs.send_message(QueueUrl=world.values["dlqUrl"], MessageBody=json.dumps(s3events.object_created(BUCKET, key)),
                     MessageAttributes={"ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"}})
    sqs.send_message(QueueUrl=world.values["dlqUrl"], MessageBody="not an event")

    code, out, _ = world.ops(capsys, "dlq", "show", "--queue", "completion", "--json")

    assert code == 0
    [shown] = json.loads(out)
    assert shown["visible"] == 3
    by_condition = {r["condition"]: r for r in shown["records"]}
    assert by_condition["RetriesExhausted"]["keys"] == [key]
    assert by_condition["RetriesExhausted"]["error"] == "RuntimeError: ingest down"
    assert by_condition["SDK_CLIENT_ERROR"]["keys"] == [key]
    assert by_condition[None]["readable"] is False
    code, out, _ = world.ops(capsys, "dlq", "redrive", "--dry-run", "--queue", "completion")
    assert code == 0 and out.splitlines()[-1] == "completion DLQ: would replay 2, unreadable 1"
    attributes = sqs.get_queue_attributes(QueueUrl=world.values["dlqUrl"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"  # nothing consumed, all visible again


def test_a_deployed_stack_s_queues_are_read_with_a_wait_so_that_an_empty_answer_means_empty(world, capsys, monkeypatch):
    monkeypatch.setattr(dlq, "EMPTY_WAIT_SECONDS", 1)  # as deployed: the fixture reads moto's queues without it
    waits, receive = [], SQSBackend.receive_message

    def recording(self, queue_name, count, wait_seconds_timeout, *args, **kwargs):
        waits.append(wait_seconds_timeout)
        return receive(self, queue_name, count, 0, *args, **kwargs)  # recorded, not waited for

    monkeypatch.setattr(SQSBackend, "receive_message", recording)
    code, out, _ = world.ops(capsys, "dlq", "show", "--queue", "completion", "--json")
    assert code == 0 and json.loads(out)[0]["records"] == []
    assert waits == [1]


# --- the operator's IAM policy -----------------------------------------------------------------------------------

def test_the_policy_names_exact_arns_and_passes_the_pack_s_iam_policies(world):
    policy = operator_policy(from_outputs(json.dumps(world.values), "outputs"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ListSessionObjects"] == {
        "Sid": "ListSessionObjects", "Effect": "Allow", "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{BUCKET}"],
        "Condition": {"StringLike": {"s3:prefix": [f"{layout.SESSIONS_PREFIX}*"]}},
    }
    assert by_sid["Replay"]["Resource"] == [world.values["completionFunctionArn"], world.values["sweeperFunctionArn"]]
    assert by_sid["PendingSessions"]["Resource"] == [f"{world.values['tableArn']}/index/{contract.PENDING_INDEX_NAME}"]
    args = ResourceValidationArgs(
        resource_type="aws:iam/policy:Policy", props={"policy": json.dumps(policy)}, urn="urn:ops", name="ops",
        opts=None, provider=None,
    )
    for check in (iam_policies.iam_no_wildcard_actions, iam_policies.iam_no_wildcard_resources,
                  iam_policies.iam_exact_delivery_targets):
        violations = []
        check.validate(args, lambda message, urn, v=violations: v.append(message))
        assert violations == [], check.name


def as_moto_checks(policy: dict) -> dict:
    """moto checks a DynamoDB call against the resource "*" (it knows no table ARN), so a statement naming the table
    never matches there: widened to "*" for moto, its actions are still checked. S3 and SQS keep their exact ARNs."""
    return {**policy, "Statement": [
        {**s, "Resource": ["*"]} if all(a.startswith("dynamodb:") for a in s["Action"]) else s
        for s in policy["Statement"]
    ]}


def _put_operator_policy(policy: dict) -> None:
    with pytest.MonkeyPatch.context() as patch:  # setting the user up is not the operator's business
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        boto3.client("iam", region_name=REGION).put_user_policy(
            UserName="operator", PolicyName="session-uploads-ops", PolicyDocument=json.dumps(as_moto_checks(policy)))


def _operator_credentials(policy: dict) -> dict[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="operator")
    _put_operator_policy(policy)
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


READS = [
    ("session", "show", "{session}", "--windows"),
    ("sessions", "list", "--status", "finalizing"),
    ("sessions", "list", "--status", "recording"),
    ("reconcile", "--session", "{session}", "--dry-run"),
    ("reconcile", "--since", "2000-01-01", "--dry-run"),
    ("dlq", "show"),
    ("dlq", "redrive", "--dry-run"),
]


def test_the_printed_policy_is_enough_for_every_read_and_each_statement_is_needed(world, capsys, monkeypatch):
    """moto checks each call's action (and S3's and SQS's resource ARNs), not conditions: this proves the actions
    and those ARNs, and IAM's own evaluation the rest."""
    session_id = world.session()
    world.upload(session_id, 0)
    world.complete(session_id, 2)
    code, out, _ = world.ops(capsys, "iam-policy")
    assert code == 0
    policy = json.loads(out)
    # Replay is an invoke, which moto's Lambda cannot run here: the e2e tests cover it on the local stack.
    for name, value in _operator_credentials(policy).items():
        monkeypatch.setenv(name, value)
    with enable_iam_authentication():
        for argv in READS:
            code, _, err = world.ops(capsys, *(a.format(session=session_id) for a in argv))
            assert code == 0, (argv, err)

    # Each statement is needed: without it, the commands that use it are refused (one line, exit 1). (The index's
    # own statement cannot be told apart here: for moto every DynamoDB call is on "*".)
    needs = {"ReadSessions": ("session", "show", session_id),
             "ListSessionObjects": ("reconcile", "--session", session_id, "--dry-run"),
             "DeadLetters": ("dlq", "show")}
    for sid, argv in needs.items():
        _put_operator_policy({**policy, "Statement": [s for s in policy["Statement"] if s["Sid"] != sid]})
        with enable_iam_authentication():
            code, _, err = world.ops(capsys, *argv)
        assert code == 1 and ("not authorized" in err.lower() or "accessdenied" in err.lower()), (sid, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
