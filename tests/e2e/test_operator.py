"""The operator tool on the local stack: DLQ redrive, reconcile, sessions, each run twice changes nothing more."""

from __future__ import annotations

import json
import time

import pytest

from devstack.schedule import scheduled_event
from devstack.tokens import ENDPOINTS_FILE
from handlers import layout
from ops.cli import main
from tests.e2e.conftest import Api, running_stack
from tests.e2e.test_lost_events import upload_one_by_one, wav_body


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The tool redrives whole queues and reconciles the whole bucket: a stack of its own, not the shared one."""
    with running_stack(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def ops(stack):
    """`python -m ops --local <the stack's endpoints file> ...`, in-process: (exit code, stdout, stderr)."""
    endpoints = str(stack.state_dir / ENDPOINTS_FILE)

    def run(capsys, *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(["--local", endpoints, *argv])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, _without_handler_output(out), err

    return run


def _without_handler_output(out: str) -> str:
    """The stack's functions run in this process: their log and metric lines share its stdout with the tool's."""
    return "".join(line for line in out.splitlines(keepends=True)
                   if not line.startswith(('{"level":', '{"_aws":')))


def snapshot(stack, session_id: str) -> list[str]:
    """Every item of the session in the table, and every ingest record: what a second run must not change."""
    dynamodb = stack.client("dynamodb")
    items = dynamodb.query(TableName=stack.names.table, ConsistentRead=True,
                           KeyConditionExpression="sessionId = :s",
                           ExpressionAttributeValues={":s": {"S": session_id}})["Items"]
    return sorted(json.dumps(item, sort_keys=True) for item in items) + [json.dumps(stack.ingest_counts(session_id))]


def test_events_dead_lettered_after_injected_failures_are_redriven_once_and_the_queue_is_empty(
    stack, api, faults, ops, capsys
):
    session_id = api.create_session()
    faults.fail_completion(3)  # the event's three attempts
    upload_one_by_one(stack, api, session_id, [0])
    upload_one_by_one(stack, api, session_id, [1])
    assert [r["requestPayload"]["Records"][0]["s3"]["object"]["key"] for r in stack.dlq_messages()] == [
        layout.audio_key(session_id, 0).replace("/", "%2F")]
    assert api.status(session_id)["recordedWindows"] == [[1, 1]]

    code, out, _ = ops(capsys, "dlq", "show", "--json")
    assert code == 0
    completion_dlq = json.loads(out)[0]
    assert completion_dlq["queue"] == "completion" and completion_dlq["visible"] == 1
    [record] = completion_dlq["records"]
    assert record["keys"] == [layout.audio_key(session_id, 0)] and record["attempts"] == 3
    assert record["condition"] == "RetriesExhausted" and "InjectedFault" in record["error"]
    assert code == 0 and len(stack.dlq_messages()) == 1, "show leaves the records in the queue"

    code, out, _ = ops(capsys, "dlq", "redrive", "--dry-run")
    assert code == 0 and "would replay 1" in out and len(stack.dlq_messages()) == 1

    code, out, _ = ops(capsys, "dlq", "redrive", "--queue", "completion")
    stack.wait_idle()

    assert code == 0, out
    assert "replayed " in out and layout.audio_key(session_id, 0) in out
    assert "completion DLQ: replayed 1, failed 0, unreadable 0" in out
    assert stack.dlq_messages() == []
    status = api.status(session_id)
    assert (status["recordedWindows"], status["ingestedWindows"]) == ([[0, 1]], [[0, 1]])
    assert stack.ingest_counts(session_id) == {0: 1, 1: 1}

    before = snapshot(stack, session_id)
    code, out, _ = ops(capsys, "dlq", "redrive")
    stack.wait_idle()
    assert code == 0 and "completion DLQ: replayed 0, failed 0" in out
    assert snapshot(stack, session_id) == before


def test_a_replay_that_fails_again_is_left_in_the_queue_and_exits_1(stack, api, faults, ops, capsys):
    session_id = api.create_session()
    faults.fail_completion(3)
    upload_one_by_one(stack, api, session_id, [0])
    faults.fail_completion(1)  # the replay's one attempt

    code, out, _ = ops(capsys, "dlq", "redrive", "--queue", "completion")

    assert code == 1 and "failed 1" in out and "left in the queue" in out
    assert len(stack.dlq_messages()) == 1  # visible again at once, for the next run
    code, _, _ = ops(capsys, "dlq", "redrive", "--queue", "completion")
    stack.wait_idle()
    assert code == 0 and stack.dlq_messages() == [] and stack.ingest_counts(session_id) == {0: 1}


def test_a_failed_scheduled_sweep_is_redriven_by_one_sweep(stack, faults, ops, capsys):
    lambda_ = stack.client("lambda")
    faults.fail_sweeps(1)
    event = json.dumps(scheduled_event(stack.names.sweep_schedule, stack.region))
    assert lambda_.invoke(FunctionName=stack.names.sweeper_function, InvocationType="Event", Payload=event)[
        "StatusCode"] == 202
    stack.wait_idle()
    [record] = stack.dlq_messages(stack.sweeper_dlq_url)
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"

    code, out, _ = ops(capsys, "dlq", "redrive", "--queue", "sweeper")

    assert code == 0 and "ran the sweeper once for 1 failed sweeps" in out
    assert stack.dlq_messages(stack.sweeper_dlq_url) == []
    assert ops(capsys, "dlq", "redrive", "--queue", "sweeper")[1].strip().endswith("replayed 0, failed 0, unreadable 0")


def test_reconcile_on_a_clean_session_changes_nothing(stack, api, ops, capsys):
    session_id = api.create_session()
    upload_one_by_one(stack, api, session_id, range(3))
    before = snapshot(stack, session_id)

    code, out, _ = ops(capsys, "reconcile", "--session", session_id, "--json")

    assert code == 0
    report = json.loads(out)
    assert (report["toReplay"], report["replayed"], report["failed"]) == (0, 0, 0)
    [session] = report["sessions"]
    assert (session["objects"], session["recordedHalves"], session["unrecorded"]) == (3, 3, [])
    assert snapshot(stack, session_id) == before


def test_reconcile_replays_lost_events_once_and_a_second_run_changes_nothing(stack, api, faults, ops, capsys):
    session_id = api.create_session()
    faults.drop_events(2)
    upload_one_by_one(stack, api, session_id, range(3))
    assert api.complete(session_id, 3).json()["status"] == "finalizing"
    before = snapshot(stack, session_id)

    code, out, _ = ops(capsys, "reconcile", "--session", session_id, "--dry-run")
    assert code == 0 and "unrecorded 2" in out and "would replay 2" in out
    assert snapshot(stack, session_id) == before

    code, out, _ = ops(capsys, "reconcile", "--session", session_id)
    stack.wait_idle()

    assert code == 0 and f"{session_id} finalizing -> ready" in out and "replayed 2" in out
    assert stack.ingest_counts(session_id) == {0: 1, 1: 1, 2: 1}
    status = api.status(session_id)
    assert (status["status"], status["ingestedWindows"]) == ("ready", [[0, 2]])
    after = snapshot(stack, session_id)
    code, out, _ = ops(capsys, "reconcile", "--session", session_id)
    stack.wait_idle()
    assert code == 0 and "nothing to replay" in out
    assert snapshot(stack, session_id) == after


def test_reconcile_since_a_date_finds_the_sessions_created_since(stack, api, faults, ops, capsys):
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    session_id = api.create_session()
    faults.drop_events(1)
    upload_one_by_one(stack, api, session_id, [0])

    code, out, _ = ops(capsys, "reconcile", "--since", since, "--json")
    stack.wait_idle()

    assert code == 0
    report = {s["sessionId"]: s for s in json.loads(out)["sessions"]}
    assert report[session_id]["replayed"] == [layout.audio_key(session_id, 0)]
    assert stack.ingest_counts(session_id) == {0: 1}
    code, out, _ = ops(capsys, "reconcile", "--since", "2999-01-01")
    assert code == 0 and out.strip() == "reconciled 0 sessions: replayed 0, failed 0"


def test_session_show_and_sessions_list_see_any_user_s_sessions(stack, ops, capsys):
    bob = Api(stack, user="bob")
    session_id = bob.create_session()
    bob.upload(session_id, 0, wav_body(0))
    stack.wait_idle()
    assert bob.complete(session_id, 2).status_code == 202

    code, out, _ = ops(capsys, "session", "show", session_id, "--windows", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == bob.status(session_id)  # what the owner's API call says
    assert shown["header"]["userId"] == "bob" and shown["header"]["onSweeperIndex"] is True
    assert [w["windowIndex"] for w in shown["windows"]] == [0] and shown["windows"][0]["ingested"] is True
    code, out, _ = ops(capsys, "session", "show", session_id)
    assert code == 0 and "finalizing" in out and "bob" in out

    code, out, _ = ops(capsys, "sessions", "list", "--status", "finalizing", "--json")
    assert code == 0 and session_id in [row["sessionId"] for row in json.loads(out)]
    code, out, _ = ops(capsys, "sessions", "list", "--status", "finalizing", "--older-than", "1h", "--json")
    assert code == 0 and session_id not in [row["sessionId"] for row in json.loads(out)]
    recording = Api(stack, user="carol").create_session()  # a session of its own, whatever ran before on this stack
    code, out, err = ops(capsys, "sessions", "list", "--status", "recording")
    assert code == 0 and "SESSION" in out and recording in out and "recording session" in err
