"""The local stack's lifecycle: leaving it frees every port and thread; `serve` stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from devstack.stack import ENDPOINTS_FILE, LocalStack

REPO = Path(__file__).resolve().parents[2]


def _refuses(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_leaving_the_stack_stops_every_server_and_thread(tmp_path):
    before = set(threading.enumerate())
    with LocalStack(state_dir=tmp_path) as stack:
        urls = [stack.api_url, stack.aws_endpoint, stack.s3_endpoint, stack.lambda_endpoint]
        assert not any(_refuses(url) for url in urls)
        written = json.loads((tmp_path / ENDPOINTS_FILE).read_text())
        assert written == stack.endpoints
        assert {"apiUrl", "awsEndpoint", "region", "bucket", "table", "dlqUrl", "token"} <= set(written)

    assert all(_refuses(url) for url in urls)
    assert [t.name for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_serve_answers_with_cli_tokens_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "devstack", "--state-dir", str(tmp_path)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*command, "serve"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        endpoints_file = tmp_path / ENDPOINTS_FILE
        deadline = time.monotonic() + 60
        while not endpoints_file.exists():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        endpoints = json.loads(endpoints_file.read_text())
        token = subprocess.run(
            [*command, "token", "--user", "alice"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()

        created = requests.post(
            f"{endpoints['apiUrl']}/sessions", json={"captureMode": "audio_only"},
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        )
        assert created.status_code == 201, created.text

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert _refuses(endpoints["apiUrl"])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
