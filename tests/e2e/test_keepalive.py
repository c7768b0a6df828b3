"""The local stack's servers keep their connections (devstack/keepalive.py): one connection carries request after
request, whatever the app read of each body; a request that cannot be delimited, or asks to close, closes it; and
a server's stop ends the connections its clients keep open."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest
from botocore.credentials import Credentials
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from devstack.gate import PresignGate
from devstack.moto_process import HOST
from devstack.servers import MotoServer, WsgiServer


@Request.application
def _app(request: Request) -> Response:
    """/echo answers the body; /ignore reads none of it; /fail answers a part, then raises; /port names the client's
    port; /nodelay says whether Nagle's algorithm is off on the connection."""
    if request.path == "/ignore":
        return Response(b"ignored")
    if request.path == "/fail":
        def cut_short():
            yield b"a part"
            raise RuntimeError("the app failed mid-answer")
        return Response(cut_short())
    if request.path == "/port":
        return Response(str(request.environ["REMOTE_PORT"]))
    if request.path == "/nodelay":
        sock = request.environ["werkzeug.socket"]
        return Response(str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0))
    return Response(request.get_data())


@pytest.fixture
def server():
    served = WsgiServer(_app, "test-keepalive")
    try:
        yield served
    finally:
        served.stop()


def _connect(server: WsgiServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST, int(server.url.rsplit(":", 1)[1]), timeout=10)


def _ask(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, str | None]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Connection")


def test_one_connection_carries_each_request_whatever_the_app_read_of_its_body(server):
    connection = _connect(server)
    try:
        assert _ask(connection, "POST", "/echo", b"first") == (200, b"first", None)
        sock = connection.sock
        assert _ask(connection, "POST", "/ignore", b"x" * 100_000) == (200, b"ignored", None)
        assert _ask(connection, "GET", "/echo") == (200, b"", None)
        assert _ask(connection, "PUT", "/echo", b"last") == (200, b"last", None)
        assert connection.sock is sock  # never reopened
        assert _ask(connection, "GET", "/nodelay") == (200, b"True", None)
    finally:
        connection.close()


def test_requests_sent_back_to_back_are_each_answered_in_order(server):
    with socket.create_connection((HOST, int(server.url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /"
                     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond")
        replies = b""
        while replies.count(b"HTTP/1.1 200") < 2 or not replies.endswith(b"second"):
            chunk = sock.recv(65536)
            assert chunk, replies
            replies += chunk
    assert replies.index(b"ignored") < replies.index(b"second")


def test_a_request_that_asks_to_close_or_whose_body_length_is_not_one_content_length_closes_it(server):
    connection = _connect(server)
    try:
        assert _ask(connection, "GET", "/echo", headers={"Connection": "close"}) == (200, b"", "close")
        assert connection.sock is None
        connection.request("POST", "/echo", body=iter([b"chun", b"ked"]), encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, response.read(), response.getheader("Connection")) == (200, b"chunked", "close")
        connection.putrequest("POST", "/ignore")
        for length in ("2", "2"):
            connection.putheader("Content-Length", length)
        connection.endheaders(b"ab")
        response = connection.getresponse()
        assert (response.status, response.read(), response.getheader("Connection")) == (200, b"ignored", "close")
    finally:
        connection.close()


def test_an_app_that_fails_mid_answer_gives_a_whole_500_and_the_connection_goes_on(server):
    connection = _connect(server)
    try:
        status, body, _ = _ask(connection, "GET", "/fail")
        assert status == 500 and b"a part" not in body
        assert _ask(connection, "POST", "/echo", b"after") == (200, b"after", None)
    finally:
        connection.close()


def test_a_stop_ends_the_connections_clients_keep_open_and_their_threads():
    before = set(threading.enumerate())
    served = WsgiServer(_app, "test-keepalive")
    connections = [_connect(served) for _ in range(3)]
    for n, connection in enumerate(connections):
        assert _ask(connection, "POST", "/echo", str(n).encode())[:2] == (200, str(n).encode())
    served.stop()
    assert [t.name for t in threading.enumerate() if t not in before and t.is_alive()] == []
    for connection in connections:
        assert connection.sock.recv(1) == b""  # the server's end is closed
        connection.close()


def test_moto_answers_requests_one_after_another_on_one_connection():
    moto = MotoServer()
    moto.start()
    try:
        connection = http.client.HTTPConnection(HOST, moto.port, timeout=10)
        headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        first = _ask(connection, "POST", "/", b"{}", headers)
        sock = connection.sock
        second = _ask(connection, "POST", "/", b"{}", headers)
        for status, body, closing in (first, second):
            assert (status, json.loads(body)["TableNames"], closing) == (200, [], None)
        assert connection.sock is sock
        connection.close()
    finally:
        moto.stop()


def test_the_gate_forwards_request_after_request_on_the_connection_it_keeps(server):
    gate = Client(PresignGate(server.url, lambda access_key: None, "eu-west-1", Credentials("test", "test")))
    ports = {gate.get("/port").get_data() for _ in range(5)}
    assert len(ports) == 1
    assert gate.put("/echo", data=b"forwarded").get_data() == b"forwarded"
