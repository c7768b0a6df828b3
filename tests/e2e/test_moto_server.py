"""The local stack's moto (devstack/servers.py, devstack/moto_process.py): each server forked from a warm moto
starts empty, answers on its own port, and goes away when stopped or when the process that started it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import boto3

from devstack.servers import MotoServer
from offline.program import PROJECT_DIR
from tests.e2e.conftest import refuses


def _s3(server: MotoServer):
    return boto3.session.Session("test", "test", region_name="us-east-1").client("s3", endpoint_url=server.url)


def test_each_server_starts_empty_and_holds_its_own_state():
    first, second = MotoServer(), MotoServer()
    first.start()
    try:
        _s3(first).create_bucket(Bucket="first-only")
        second.start()
        try:
            assert first.port != second.port
            assert [b["Name"] for b in _s3(first).list_buckets()["Buckets"]] == ["first-only"]
            assert _s3(second).list_buckets()["Buckets"] == []
        finally:
            second.stop()
    finally:
        first.stop()
    third = MotoServer()
    third.start()
    try:
        assert _s3(third).list_buckets()["Buckets"] == []
    finally:
        third.stop()
    assert refuses(first.url) and refuses(second.url)


def test_a_server_goes_away_when_the_process_that_started_it_is_killed():
    script = "from devstack.servers import MotoServer; s = MotoServer(); s.start(); print(s.url, flush=True); input()"
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        url = parent.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and not refuses(url)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not refuses(url):
            assert time.monotonic() < deadline, f"moto at {url} still answers after its parent died"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
        parent.stdin.close()
        parent.stdout.close()
