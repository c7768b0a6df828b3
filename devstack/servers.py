"""Servers on 127.0.0.1 (free ports): moto in its own process, and the stack's own fronts as threaded WSGI servers;
each stops and frees its port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

HOST = "127.0.0.1"
PROJECT_DIR = Path(__file__).resolve().parent.parent


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request drowns the handlers' logs
        pass


class WsgiServer:
    """One WSGI app served by threads on a free port of 127.0.0.1."""

    def __init__(self, app: Callable, name: str):
        self._server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler)
        # A short poll: stop() waits for the next one, and every test stops its stack.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class MotoServer:
    """moto server in a child process (devstack/moto_process.py): its IAM enforcement, when switched on, stays its
    own. Stopped by closing the child's stdin; killed if it does not stop."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self.port: int | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devstack.moto_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))},
        )
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.port = int(line)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def enforce_iam(self) -> None:
        """From now on moto checks every call against the caller's IAM policies (DESIGN.md, "What moto does not do")."""
        requests.post(f"{self.url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
