"""Servers on 127.0.0.1 (free ports): moto in its own process, and the stack's own fronts as threaded WSGI servers;
each stops and frees its port."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from devstack import forkserver

HOST = "127.0.0.1"


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


def _serve_moto(parent: Connection) -> None:
    from devstack import moto_process  # noqa: PLC0415 - the forkserver's import: this process does not import moto

    moto_process.serve(parent)


class MotoServer:
    """moto server in a child process (devstack/moto_process.py): its IAM enforcement, when switched on, stays its
    own. The child forks from this process's forkserver, which imported moto and warmed it once; stopped by closing
    the pipe to it, killed if it does not stop."""

    def __init__(self) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        self.port: int | None = None

    def start(self) -> None:
        self._process, self._pipe = forkserver.fork(_serve_moto, (), "moto server")
        try:
            self.port = self._pipe.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("moto server exited before it started (its error is above)") from None

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
        forkserver.end(process, self._pipe)
        process.close()
