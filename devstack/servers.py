"""Threaded WSGI servers on 127.0.0.1 (free ports): moto, and the stack's own fronts; each stops and frees its port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

HOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request drowns the handlers' logs
        pass


class _QuietMotoHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class WsgiServer:
    """One WSGI app served by threads on a free port of 127.0.0.1."""

    def __init__(self, app: Callable, name: str):
        self._server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _SerializedDynamoDB:
    """moto's DynamoDB conditional writes are not atomic under concurrent requests (2 to 7 winners of one claim
    with 16 threads); real DynamoDB's are, and exactly-once ingest rests on them. One request at a time restores
    that; every other service stays concurrent (an SQS long poll must not block the table)."""

    _lock = threading.Lock()  # moto's backends are process-global, so is the lock

    def __init__(self, app: Callable):
        self._app = app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            # Consume the whole response inside the lock: the write happens while moto builds it.
            return list(self._app(environ, start_response))


class MotoServer(ThreadedMotoServer):
    """moto in server mode on a free port of 127.0.0.1, with DynamoDB requests serialized."""

    def __init__(self) -> None:
        super().__init__(ip_address=HOST, port=0, verbose=False)

    def _server_entry(self) -> None:  # ThreadedMotoServer's own, with the app wrapped and request logs off
        app = _SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_QuietMotoHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()  # ThreadedMotoServer.stop leaves the listening socket open
