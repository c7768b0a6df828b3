"""The sweeper Lambda under moto: gaps past the timeout become incomplete, counted in a metric."""

import json

import pytest

from devstack import s3events
from handlers import contract, layout
from tests.conftest import BUCKET, load_handler
from tests.handlers.conftest import Api, LambdaContext, upload


@pytest.fixture
def handlers(aws):
    aws.setenv(contract.ENV_COMPLETION_TIMEOUT_SECONDS, "1")
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
    assert sweeper.lambda_handler({}, LambdaContext()) == {"markedIncomplete": [sid], "triggered": [], "failed": []}
    status = api.call("GET", f"/sessions/{sid}")[1]
    assert (status["status"], status["missingWindows"]) == ("incomplete", [[0, 0], [2, 2]])
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics[-1]["SessionsMarkedIncomplete"] == [1.0]
