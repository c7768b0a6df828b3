"""The local stack's lifecycle: leaving it frees every port and thread; `serve` logs SessionReady events, its sweeper
runs from the CLI, and it stops cleanly on SIGTERM."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from devstack import samples
from devstack.__main__ import main as devstack_cli
from devstack.stack import ENDPOINTS_FILE, DevStack
from offline.program import PROJECT_DIR
from tests.e2e.conftest import refuses


def test_a_started_stack_is_frozen_and_leaving_it_stops_every_server_and_thread(tmp_path):
    before = set(threading.enumerate())
    gc.unfreeze()  # what the stacks earlier tests of this process started froze
    with DevStack(state_dir=tmp_path) as stack:
        # What it holds is out of the collector's generations (DevStack._start), the stack itself among it.
        assert gc.get_freeze_count() > 0 and not any(tracked is stack for tracked in gc.get_objects())
        urls = [stack.api_url, stack.aws_endpoint, stack.s3_endpoint, stack.lambda_endpoint]
        assert not any(refuses(url) for url in urls)
        written = json.loads((tmp_path / ENDPOINTS_FILE).read_text())
        assert written == stack.endpoints
        assert {"apiUrl", "awsEndpoint", "region", "bucket", "table", "dlqUrl", "token"} <= set(written)

    assert all(refuses(url) for url in urls)
    assert [t.name for t in threading.enumerate() if t not in before and t.is_alive()] == []


def _wait_for(condition, what: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()}"
        time.sleep(0.1)


def test_serve_answers_cli_tokens_logs_session_ready_sweeps_from_the_cli_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "devstack", "--state-dir", str(tmp_path)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "serve", "--finalizing-timeout", "1"], cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        endpoints_file = tmp_path / ENDPOINTS_FILE
        _wait_for(endpoints_file.exists, "serve did not come up", server, log)
        endpoints = json.loads(endpoints_file.read_text())
        token = subprocess.run(
            [*command, "token", "--user", "alice"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()

        api, auth = endpoints["apiUrl"], {"Authorization": f"Bearer {token}"}

        def session() -> str:
            created = requests.post(f"{api}/sessions", json={"captureMode": "audio_only"}, headers=auth, timeout=10)
            assert created.status_code == 201, created.text
            return created.json()["sessionId"]

        def complete(session_id: str) -> None:
            done = requests.post(
                f"{api}/sessions/{session_id}/complete", json={"expectedWindowCount": 1}, headers=auth, timeout=10
            )
            assert done.status_code == 202, done.text

        whole, partial = session(), session()
        grant = requests.post(
            f"{api}/sessions/{whole}/audio", params={"windowIndex": 0}, json={"sizeBytes": len(samples.wav_bytes())}, headers=auth, timeout=10
        ).json()
        assert requests.put(grant["url"], data=samples.wav_bytes(), headers=grant["headers"], timeout=10).status_code == 200
        _wait_for(
            lambda: requests.get(f"{api}/sessions/{whole}", headers=auth, timeout=10).json()["recordedWindows"],
            "the window was never recorded", server, log,
        )
        complete(whole)
        complete(partial)
        _wait_for(lambda: f"SessionReady: session {whole}" in log.read_text(), "no SessionReady line", server, log)

        time.sleep(1.1)  # past the finalizing timeout
        swept = subprocess.run([*command, "sweep"], cwd=PROJECT_DIR, capture_output=True, text=True)
        assert swept.returncode == 0, swept.stderr
        assert json.loads(swept.stdout) == {
            "markedIncomplete": [partial], "triggered": [], "failed": [], "healed": {}, "deferred": []}
        assert log.read_text().count("SessionReady: ") == 1

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert refuses(endpoints["apiUrl"])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_sweep_without_a_running_stack_says_how_to_start_one(tmp_path, capsys):
    assert devstack_cli(["--state-dir", str(tmp_path), "sweep"]) == 1
    assert "make dev" in capsys.readouterr().err
