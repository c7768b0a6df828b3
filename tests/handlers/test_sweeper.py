"""The sweeper Lambda under moto: lost events healed from the bucket's listing, gaps past the timeout incomplete;
both counted in metrics."""

import json

import pytest

from devstack import s3events
from handlers import contract, layout
from tests.conftest import BUCKET, load_handler
from tests.handlers.conftest import Api, LambdaContext, upload


@pytest.fixture
def handlers(aws):
    aws.setenv(contract.ENV_FINALIZING_TIMEOUT_SECONDS, "1")
    return (
        Api(load_handler("handlers.api.app")),
        load_handler("handlers.upload_complete.app"),
        load_handler("handlers.sweeper.app"),
    )


def test_the_sweeper_marks_a_session_with_gaps_incomplete_and_counts_it(handlers, capsys, monkeypatch):
    api, complete, sweeper = handlers
    monkeypatch.setattr(complete.ingest._client, "invoke", lambda **_: {"StatusCode": 202})
    sid = api.create()
    complete.lambda_handler(
        s3events.notification(s3events.notification_record(BUCKET, upload(layout.audio_key(sid, 1)))), LambdaContext()
    )
    assert api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 3})[0] == 202
    assert sweeper.lambda_handler({}, LambdaContext())["markedIncomplete"] == []  # not past the timeout yet
    monkeypatch.setattr(sweeper.store, "_clock", lambda: 4_000_000_000.0)
    assert sweeper.lambda_handler({}, LambdaContext()) == {
        "markedIncomplete": [sid], "triggered": [], "failed": [], "healed": {}, "deferred": []}
    status = api.call("GET", f"/sessions/{sid}")[1]
    assert (status["status"], status["missingWindows"]) == ("incomplete", [[0, 0], [2, 2]])
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics[-1]["SessionsMarkedIncomplete"] == [1.0]


def metric(out: str, name: str) -> list[float]:
    return [json.loads(line)[name] for line in out.splitlines() if f'"{name}"' in line and '"_aws"' in line]


def test_the_sweeper_heals_windows_whose_events_were_lost_then_the_session_is_ready(
    handlers, capsys, caplog, monkeypatch
):
    api, complete, sweeper = handlers
    invoked = []
    for module in (complete, sweeper):  # the ingest target, as each function's own client reaches it
        monkeypatch.setattr(module.pipeline.ingest._client, "invoke",
                            lambda **kwargs: invoked.append(json.loads(kwargs["Payload"])) or {"StatusCode": 202})
    sid = api.create()
    for window in range(4):
        upload(layout.audio_key(sid, window))  # a valid WAV, as a granted PUT stores it
    # Only window 2's event arrives; the others are lost.
    complete.lambda_handler(
        s3events.notification(s3events.notification_record(BUCKET, layout.audio_key(sid, 2))), LambdaContext()
    )
    assert api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 4})[1]["status"] == "finalizing"
    capsys.readouterr()
    monkeypatch.setattr(sweeper.store, "_clock", lambda: 4_000_000_000.0)

    report = sweeper.lambda_handler({}, LambdaContext())

    assert report == {"markedIncomplete": [], "triggered": [], "failed": [], "healed": {sid: [[0, 1], [3, 3]]},
                      "deferred": []}
    status = api.call("GET", f"/sessions/{sid}")[1]
    assert (status["status"], status["recordedWindows"], status["ingestedWindows"]) == ("ready", [[0, 3]], [[0, 3]])
    assert sorted(request["windowIndex"] for request in invoked) == [0, 1, 2, 3]  # each window once
    out = capsys.readouterr().out
    assert metric(out, "WindowsHealed") == [[3.0]]
    assert "events lost: windows recorded by the sweeper's heal" in caplog.text
    # The next run finds nothing to heal: the session left the index when it became ready.
    assert sweeper.lambda_handler({}, LambdaContext())["healed"] == {}
    assert len(invoked) == 4
