"""The CLI's arguments: anything the API would refuse, or that int() would coerce, is a usage error (exit 2, argparse's
one error line, no traceback) before any request is sent."""

from __future__ import annotations

import pytest

from client import cli
from client.cli import main
from client.config import ENV_API_URL, ENV_TOKEN
from client.windows import HALVES, MAX_FRAMES_PER_WINDOW, MAX_GRANTS_PER_REQUEST, MAX_WINDOW_INDEX
from handlers import contract, layout
from tests.client.conftest import TOKEN

SESSION = "2b0c3a4e-0000-4000-8000-000000000000"


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_API_URL, fake.base_url)
    monkeypatch.setenv(ENV_TOKEN, TOKEN)
    (tmp_path / "w.wav").write_bytes(b"RIFF" + bytes(100))
    return tmp_path


def usage_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    _, err = capsys.readouterr()
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("python -m client")  # argparse's usage, then its one error line
    return err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (("upload", "w.wav", "--session", SESSION, "--window", "-1"), f"--window: must be from 0 to {MAX_WINDOW_INDEX}"),
        (("upload", "w.wav", "--session", SESSION, "--window", str(MAX_WINDOW_INDEX + 1)), "--window: must be from"),
        (("upload", "w.wav", "--session", SESSION, "--window", "9" * 5000), "--window: must be from"),
        (("upload", "w.wav", "--session", SESSION, "--window", "1_0"), "--window: not an integer in decimal digits"),
        (("upload", "w.wav", "--session", SESSION, "--window", " 1"), "--window: not an integer in decimal digits"),
        (("upload", "w.wav", "--session", SESSION, "--window", "1.0"), "--window: not an integer in decimal digits"),
        (("upload", "w.wav", "--session", SESSION, "--window", "\u0661"), "--window: not an integer in decimal digits"),
        (("upload", "w.wav", "--session", SESSION, "--window", "01"), "--window: not an integer in decimal digits"),
        (("upload", "w.wav", "--session", "not-a-uuid", "--window", "0"), "--session: not a session id"),
        (("upload", "w.wav", "--session", "../etc", "--window", "0"), "--session: not a session id"),
        (("upload", "w.wav", "--session", SESSION.replace("-", ""), "--window", "0"), "--session: not a session id"),
        (("upload", "w.wav", "--session", "{" + SESSION + "}", "--window", "0"), "--session: not a session id"),
        (("upload-dir", ".", "--session", "x"), "--session: not a session id"),
        (("upload-dir", ".", "--session", SESSION, "--concurrency", "-4"), "--concurrency: must be at least 1"),
        (("upload-dir", ".", "--session", SESSION, "--concurrency", "0"), "--concurrency: must be at least 1"),
        (("upload-dir", ".", "--session", SESSION, "--concurrency", "2.5"), "--concurrency: not an integer"),
        (("status", "--session", ""), "--session: not a session id"),
        (("complete", "--session", SESSION, "--expected", "-1"), f"--expected: must be from 0 to {MAX_WINDOW_INDEX + 1}"),
        (("complete", "--session", SESSION, "--expected", str(MAX_WINDOW_INDEX + 2)), "--expected: must be from"),
        (("complete", "--session", SESSION, "--expected", "1e3"), "--expected: not an integer in decimal digits"),
        (("session", "create", "--mode", "video_only"), "--mode: invalid choice: 'video_only'"),
        (("--retries", "1e9", "status", "--session", SESSION), "--retries: not an integer in decimal digits"),
    ],
)
def test_an_argument_the_api_would_refuse_is_a_usage_error_before_any_request(fake, env, capsys, argv, message):
    assert message in usage_error(capsys, *argv)
    assert fake.requests == []


def test_a_session_id_in_capitals_is_the_same_session(fake, env, capsys):
    session = fake.new_session()
    assert main(["upload", "w.wav", "--session", session.upper(), "--window", str(MAX_WINDOW_INDEX)]) == 0
    assert fake.sessions[session] == {MAX_WINDOW_INDEX}


def test_the_clis_limits_are_the_apis():
    assert MAX_WINDOW_INDEX == layout.MAX_WINDOW_INDEX
    assert MAX_FRAMES_PER_WINDOW == contract.MAX_FRAMES_PER_WINDOW
    assert MAX_GRANTS_PER_REQUEST == contract.MAX_GRANTS_PER_REQUEST
    assert HALVES == tuple(layout.Media)
    assert cli.CAPTURE_MODES == contract.CAPTURE_MODES
