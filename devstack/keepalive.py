"""HTTP/1.1 persistent connections for werkzeug's threaded server, which closes every connection after one response
(`Connection: close`, because http.server cannot tell where an unread request body ends).

Without them, every AWS call of a handler, every request of a client, costs a connection and a thread on each
server it crosses (the S3 gate, then moto), each started by the one thread that accepts connections, in an
interpreter the rest of the stack shares. With them, a connection's thread serves its requests one after another:
- a request's body is read to its Content-Length before the next request is, whether the app read it or not; a
  request whose body has no Content-Length (chunked), or that asks to close, closes the connection after it;
- the response is the app's whole output, taken before anything is written, so that an app that fails mid-answer
  gets werkzeug's 500 rather than cutting a response short on a connection the client keeps;
- Nagle's algorithm is off: a response goes out in two writes (headers, body), and the second would wait for the
  client's delayed acknowledgement of the first (a DynamoDB request took 48 ms instead of 7, measured);
- a server's stop closes the connections its clients keep open, so their threads end with it.

Measured: `bench.load --sessions 2 --windows 50` opened 1,540 TCP connections before, 198 with them; moto's CPU per
request from one client fell from 3.6 to 3.9 ms to 2.3 to 2.9 ms.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream


class _Body(LimitedStream):
    """A request's body on the connection's stream: reads stop at its Content-Length. Unlike LimitedStream's, a
    read past the end returns at once, without a buffer of the size asked for (werkzeug asks for 10 MB)."""

    def read(self, size: int = -1) -> bytes:
        remaining = self.limit - self._pos
        if remaining <= 0:
            return b""
        return super().read(remaining if size < 0 else min(size, remaining))


def _content_length(values: list[str]) -> int | None:
    """The body's length a request's Content-Length headers give (none: no body), or None when they give none."""
    if not values:
        return 0
    value = values[0].strip()
    return int(value) if len(values) == 1 and value.isascii() and value.isdigit() else None


class KeepAliveHandler(WSGIRequestHandler):
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        length = _content_length(self.headers.get_all("Content-Length", []))
        if length is None or "Transfer-Encoding" in self.headers or self.request_version != "HTTP/1.1":
            self.close_connection = True
        if self.close_connection:
            super().run_wsgi()  # werkzeug's own: it reads what is left of the body, and closes
            return
        stream, self.rfile = self.rfile, _Body(self.rfile, length)
        try:
            super().run_wsgi()
            self.rfile.exhaust()  # what the app did not read: the next request starts after it
        except Exception:  # noqa: BLE001 - a body cut short: the connection cannot carry another request
            self.close_connection = True
        finally:
            self.rfile = stream

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
            return  # werkzeug sends it on every response
        super().send_header(keyword, value)


class _Whole:
    """The app's response taken whole before werkzeug writes any of it."""

    def __init__(self, app: Callable):
        self._app = app

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        output: Iterable[bytes] = self._app(environ, start_response)
        try:
            return list(output)
        finally:
            close = getattr(output, "close", None)
            if close is not None:
                close()


class _Connections:
    """The connections a server's handler threads are serving, with their threads."""

    def __init__(self) -> None:
        self._open: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open[connection] = threading.current_thread()

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.pop(connection, None)

    def close(self, timeout: float = 5.0) -> None:
        """Ends every connection, and waits for its thread: one waiting for a next request sees the end at once."""
        with self._lock:
            open_now = list(self._open.items())
        for connection, _ in open_now:
            with contextlib.suppress(OSError):  # closed by its client meanwhile
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(timeout)


def server(host: str, app: Callable, handler: type[KeepAliveHandler]) -> BaseWSGIServer:
    """A threaded server of `app` on a free port of `host` that keeps its connections. To stop it: `shutdown()`,
    then `connections.close()`, then `server_close()`."""
    served = make_server(host, 0, _Whole(app), threaded=True, request_handler=handler)
    served.connections = _Connections()  # type: ignore[attr-defined]
    return served
