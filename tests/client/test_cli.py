"""`python -m client`: exit codes, one-line errors, and where the API URL and token come from."""

from __future__ import annotations

import functools
import json

import pytest

from client import window_filename
from client.cli import main
from client.config import ENV_API_URL, ENV_TOKEN, resolve
from client.errors import UsageError
from tests.client.conftest import TOKEN
from tests.client.conftest import frames_bundle as frames_zip
from tests.conftest import run_cli

AUDIO = b"RIFF" + bytes(1000)
SESSION = "2b0c3a4e-0000-4000-8000-000000000000"  # well-formed: these errors are about something else


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    """The CLI configured through the environment, run from an empty directory (no endpoints file)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_API_URL, fake.base_url)
    monkeypatch.setenv(ENV_TOKEN, TOKEN)
    return tmp_path


run = functools.partial(run_cli, main)


def test_create_upload_status_and_complete(fake, env, capsys):
    code, out, _ = run(capsys, "session", "create")
    session = out.strip()
    assert code == 0 and session in fake.sessions

    (env / "w.wav").write_bytes(AUDIO)
    assert run(capsys, "upload", "w.wav", "--session", session, "--window", "5")[0] == 0
    assert fake.sessions[session] == {5}

    code, out, _ = run(capsys, "status", "--session", session, "--json")
    assert code == 0 and json.loads(out)["recordedWindows"] == [[5, 5]]
    code, out, _ = run(capsys, "complete", "--session", session, "--expected", "6")
    assert code == 0 and "recorded          5 (1)" in out
    assert json.loads(fake.of("POST", f"/sessions/{session}/complete")[0].body) == {"expectedWindowCount": 6}


def test_upload_dir_resumes_and_exits_0(fake, env, capsys):
    for window in range(4):
        (env / window_filename(window)).write_bytes(AUDIO)
    session = fake.new_session(recorded={0})
    code, out, err = run(capsys, "upload-dir", ".", "--session", session, "--concurrency", "2")
    assert code == 0
    assert out.strip() == "uploaded 3, skipped 1 (already recorded), failed 0"
    assert "100%" in err  # the progress bar's final state, on stderr
    assert fake.sessions[session] == {0, 1, 2, 3}


def test_upload_dir_sends_both_halves_shows_each_ones_progress_and_names_a_window_it_cannot_record(fake, env, capsys):
    for window in range(3):
        (env / window_filename(window)).write_bytes(AUDIO)
    for window in (0, 1):
        (env / window_filename(window, "frames")).write_bytes(frames_zip(4))
    session = fake.new_session(mode="audio_video", stored={0: {"audio": AUDIO}})

    code, out, err = run(capsys, "upload-dir", ".", "--session", session)

    assert code == 0
    assert out.splitlines() == ["uploaded 3, skipped 0 (already recorded), failed 0", "audio 2, frames 2 halves uploaded"]
    assert "100%" in err and "audio 2/2, frames 2/2" in err  # the bar's final state: bytes, then each kind of half
    assert "warning: window 2: no window_002.zip: the session cannot record this window\n" in err
    assert fake.sessions[session] == {0, 1}


def test_upload_of_a_zip_uploads_the_windows_frames_with_the_archives_frame_count(fake, env, capsys):
    session = fake.new_session(mode="audio_video")
    (env / "frames.zip").write_bytes(frames_zip(9))
    code, out, _ = run(capsys, "upload", "frames.zip", "--session", session, "--window", "5")
    assert code == 0 and out == f"window 5 (frames): uploaded {len(frames_zip(9))} bytes\n"
    assert json.loads(fake.frames_grants[0].body)["frameCount"] == 9
    code, out, _ = run(capsys, "upload", "frames.zip", "--session", session, "--window", "5")
    assert code == 0 and out == "window 5 (frames): already stored\n"


def test_a_failed_window_exits_1_with_one_line_naming_it(fake, env, capsys):
    for window in range(2):
        (env / window_filename(window)).write_bytes(AUDIO)
    session = fake.new_session(recorded={0})
    fake.script("grant", (409, {"error": "session is ready: it no longer accepts uploads"}))
    code, out, err = run(capsys, "upload-dir", ".", "--session", session)
    assert code == 1
    assert "error: window 1: HTTP 409: session is ready: it no longer accepts uploads\n" in err
    assert "failed 1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("status", "--session", "2b0c3a4e-0000-4000-8000-000000000000"), "error: status of session 2b0c3a4e"),
        (("--retries", "0", "session", "create"), "error: create session: cannot reach the API"),
    ],
)
def test_api_failures_exit_1(fake, env, capsys, argv, message):
    if "create" in argv:
        fake.script("create", "drop")
    code, _, err = run(capsys, *argv)
    assert code == 1 and err.startswith(message) and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("upload", "missing.wav", "--session", SESSION, "--window", "0"), "error: cannot read missing.wav"),
        (("upload-dir", "nowhere", "--session", SESSION), "error: not a directory: nowhere"),
        (("upload-dir", ".", "--session", SESSION), "error: no window_NNN.wav or window_NNN.zip files in ."),
        (("upload", "w.wav", "--session", SESSION, "--window", "zero"), "not an integer in decimal digits: 'zero'"),
        (("upload-dir", ".", "--session", SESSION, "--concurrency", "0"), "must be at least 1"),
        (("--retries", "-1", "status", "--session", SESSION), "must be at least 0"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_before_sending_anything(fake, env, capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert fake.requests == []


def test_missing_configuration_exits_2(env, capsys, monkeypatch):
    monkeypatch.delenv(ENV_API_URL)
    code, _, err = run(capsys, "status", "--session", SESSION)
    assert code == 2
    assert err == f"error: no API URL: pass --api, set {ENV_API_URL}, or start the local stack (make dev)\n"


def test_flags_beat_environment_which_beats_the_endpoints_file(tmp_path):
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps({"apiUrl": "http://file", "token": "file-token"}))
    environ = {ENV_API_URL: "http://env", ENV_TOKEN: "env-token"}

    assert resolve(None, None, environ={}, endpoints_file=endpoints) == resolve("http://file", "file-token")
    assert resolve(None, None, environ=environ, endpoints_file=endpoints).api_url == "http://env"
    assert resolve("http://flag", None, environ=environ, endpoints_file=endpoints).api_url == "http://flag"
    mixed = resolve(None, "flag-token", environ={ENV_API_URL: "http://env"}, endpoints_file=endpoints)
    assert (mixed.api_url, mixed.token) == ("http://env", "flag-token")
    endpoints.write_text("not json")
    with pytest.raises(UsageError, match="cannot read"):
        resolve(None, None, environ={}, endpoints_file=endpoints)


def test_the_cli_reads_the_local_stacks_endpoints_file(fake, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_API_URL, raising=False)
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    (tmp_path / ".devstack").mkdir()
    (tmp_path / ".devstack" / "endpoints.json").write_text(json.dumps({"apiUrl": fake.base_url, "token": TOKEN}))
    code, out, _ = run(capsys, "session", "create")
    assert code == 0 and out.strip() in fake.sessions

    # A flag given after the command overrides the file too.
    code, _, err = run(capsys, "session", "create", "--token", "wrong")
    assert code == 1 and "HTTP 401: Unauthorized" in err
