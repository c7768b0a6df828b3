"""The real client over real HTTP against the local stack (conftest's `stack`): concurrency, exactly-once, resume."""

from __future__ import annotations

import pytest

from client import UploadClient, window_filename
from client.cli import main as cli
from devstack.demo import write_windows
from tests.e2e.conftest import dead_letters_for

WINDOWS = 50
FEW = 10


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    directory = tmp_path_factory.mktemp("windows")
    write_windows(directory, WINDOWS, seconds=0.25)
    return directory


@pytest.fixture(scope="module")
def few_windows(tmp_path_factory):
    directory = tmp_path_factory.mktemp("few")
    write_windows(directory, FEW, seconds=0.25)
    return directory


@pytest.fixture
def client(stack):
    with UploadClient(stack.api_url, stack.token(user="alice")) as c:
        yield c


def assert_ingested_exactly_once(stack, client, session: str, count: int) -> None:
    stack.wait_idle()
    status = client.status(session)
    assert status["recordedWindows"] == status["ingestedWindows"] == [[0, count - 1]]
    assert status["counts"]["recorded"] == status["counts"]["ingested"] == count
    assert stack.ingest_counts(session) == {w: 1 for w in range(count)}


def test_fifty_windows_eight_at_a_time_are_each_recorded_and_ingested_once(stack, client, windows):
    session = client.create_session("audio_only")["sessionId"]
    result = client.upload_dir(session, windows, concurrency=8)

    assert result.ok and result.uploaded == list(range(WINDOWS))
    assert_ingested_exactly_once(stack, client, session, WINDOWS)
    assert dead_letters_for(stack, session) == []
    completed = client.complete(session, WINDOWS)
    assert (completed["status"], completed["missingWindows"]) == ("ready", [])


def test_the_cli_resumes_a_partial_upload_without_sending_a_window_twice(stack, client, few_windows, capsys):
    session = client.create_session("audio_only")["sessionId"]
    for window in (0, 1, 2, 5):  # an earlier run that stopped part-way
        client.upload_window(session, window, few_windows / window_filename(window))
    stack.wait_idle()

    code = cli(["upload-dir", str(few_windows), "--session", session, "--api", stack.api_url,
                "--token", stack.token(user="alice"), "--concurrency", "8"])
    # The functions' instances print their metrics to this process's stdout too: keep the CLI's summary line.
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith("uploaded ")]
    assert code == 0
    assert summary == [f"uploaded {FEW - 4}, skipped 4 (already recorded), failed 0"]
    assert_ingested_exactly_once(stack, client, session, FEW)


def test_another_users_session_is_refused_with_a_clear_error(stack, client, few_windows):
    session = client.create_session("audio_only")["sessionId"]
    with UploadClient(stack.api_url, stack.token(user="mallory")) as other:
        result = other.upload_dir(session, few_windows, concurrency=8, resume=False)
    assert result.uploaded == [] and len(result.failed) == FEW
    assert str(result.failed[0]) == "window 0: HTTP 404: session not found"


@pytest.mark.parametrize("wait_for_the_event", [False, True])
def test_a_retry_after_a_lost_answer_never_fails_nor_overwrites_the_stored_window(
    stack, client, few_windows, faults, wait_for_the_event
):
    """The first PUT is stored but its answer lost. The retry meets either the write-once 412 (the event is not handled
    yet) or the grant's 409 (the window is recorded): both resolve as the window stored, once."""
    session = client.create_session("audio_only")["sessionId"]
    path = few_windows / window_filename(0)
    faults.lose_s3_put_answers(1)
    if wait_for_the_event:
        client._sleep = lambda _: stack.wait_idle()  # the retry comes after the completion handled the event
    result = client.upload_window(session, 0, path)
    assert faults.pending("s3_put_answer") == 0, "the answer was never lost"
    assert result.attempts == 2
    stack.wait_idle()
    [window] = client._call("windows", "GET", f"/sessions/{session}/windows")["windows"]
    assert window["audio"]["sizeBytes"] == path.stat().st_size and window["ingested"]
    assert stack.ingest_counts(session) == {0: 1}


def test_a_url_the_gate_finds_expired_is_granted_again_at_once_without_spending_a_retry(stack, few_windows, faults):
    """A prefetched grant can expire before its PUT is sent: the first refusal as expired costs no retry."""
    with UploadClient(stack.api_url, stack.token(user="alice"), retries=0) as client:
        session = client.create_session("audio_only")["sessionId"]
        faults.expire_s3_urls(1)
        result = client.upload_dir(session, few_windows, concurrency=4)

        assert faults.injected("s3_url_expired") == 1
        assert result.ok and result.uploaded == list(range(FEW)), result.failed
        assert_ingested_exactly_once(stack, client, session, FEW)
