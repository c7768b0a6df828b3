"""A fake session API and fake S3 on 127.0.0.1, scripted per test, recording every request the client makes."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "good-token"
EXPIRED = (
    403,
    "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AccessDenied</Code>"
    "<Message>Request has expired</Message></Error>",
)
BAD_SIGNATURE = (
    403,
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match"
    "</Message></Error>",
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class FakeService:
    """`script(route, ...)` queues the next answers of a route ("create", "status", "grant", "complete", "put"):
    a (status, body) pair, or "drop" to cut the connection without an answer."""

    base_url: str = ""
    sessions: dict[str, set[int]] = field(default_factory=dict)
    scripts: dict[str, list] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.sessions.clear()
        self.scripts.clear()
        self.requests.clear()

    def script(self, route: str, *steps) -> None:
        with self.lock:
            self.scripts.setdefault(route, []).extend(steps)

    def next_step(self, route: str):
        with self.lock:
            queue = self.scripts.get(route)
            return queue.pop(0) if queue else None

    def new_session(self, recorded: set[int] = frozenset()) -> str:
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = set(recorded)
        return session_id

    def of(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def grants(self) -> list[Request]:
        return [r for r in self.of("POST", "/sessions/") if r.path.endswith("/audio")]

    @property
    def puts(self) -> list[Request]:
        return self.of("PUT", "/s3/")

    def status_body(self, session_id: str) -> dict:
        recorded = sorted(self.sessions[session_id])
        ranges = [[w, w] for w in recorded]  # the API merges neighbours; the client must not rely on it
        return {
            "sessionId": session_id,
            "captureMode": "audio_only",
            "status": "recording",
            "createdAt": "2025-01-01T00:00:00Z",
            "expectedWindowCount": None,
            "counts": {"audio": len(recorded), "frames": 0, "recorded": len(recorded), "ingested": len(recorded),
                       "invalid": 0},
            "recordedWindows": ranges,
            "ingestedWindows": ranges,
            "missingWindows": [],
            "invalidWindows": [],
            "unexpectedWindows": [],
        }


def _route(parts: list[str]) -> str:
    """/s3/... is a PUT; /sessions, /sessions/{id}, /sessions/{id}/complete and /sessions/{id}/audio the API's."""
    if parts[0] == "s3":
        return "put"
    if len(parts) <= 2:
        return "create" if len(parts) == 1 else "status"
    return "complete" if parts[2] == "complete" else "grant"


def _handler(service: FakeService):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, body: str | dict, content_type: str = "application/json") -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            if isinstance(body, str) and body.startswith("<"):
                content_type = "application/xml"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _scripted(self, route: str) -> bool:
            """Answer as scripted for this route, if anything is queued; True when answered."""
            step = service.next_step(route)
            if step == "drop":
                self.close_connection = True  # no answer at all: the client sees a network error
            elif step is not None:
                self._reply(*step)
            return step is not None

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with service.lock:
                service.requests.append(
                    Request(self.command, url.path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            parts = url.path.strip("/").split("/")
            route = _route(parts)
            if route != "put" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"message": "Unauthorized"})  # API Gateway's authorizer says it this way
            if self._scripted(route):
                return None
            if route == "put":
                return self._put(parts, body)
            if route == "create":
                session_id = service.new_session()
                return self._reply(201, {"sessionId": session_id, "captureMode": json.loads(body)["captureMode"]})
            session_id = parts[1]
            if session_id not in service.sessions:
                return self._reply(404, {"error": "session not found"})
            if route == "grant":
                return self._grant(session_id, int(query["windowIndex"]), json.loads(body))
            return self._reply(202 if route == "complete" else 200, service.status_body(session_id))

        def _grant(self, session_id: str, window: int, request: dict) -> None:
            headers = {"Content-Type": "audio/wav", "Content-Length": str(request["sizeBytes"])}
            if "sha256" in request:
                headers["x-amz-checksum-sha256"] = request["sha256"]
            url = f"{service.base_url}/s3/{session_id}/{window}?X-Amz-Signature=grant-{len(service.grants)}"
            return self._reply(
                200,
                {
                    "url": url,
                    "s3Key": f"sessions/{session_id}/{window}",
                    "windowIndex": window,
                    "expiresIn": 300,
                    "headers": headers,
                },
            )

        def _put(self, parts: list[str], body: bytes) -> None:
            checksum = self.headers.get("x-amz-checksum-sha256")
            if checksum and checksum != base64.b64encode(hashlib.sha256(body).digest()).decode():
                return self._reply(400, "<Error><Code>BadDigest</Code><Message>checksum mismatch</Message></Error>")
            with service.lock:
                service.sessions[parts[1]].add(int(parts[2]))
            return self._reply(200, "")

        do_GET = do_POST = do_PUT = _serve

    return Handler


@pytest.fixture(scope="module")
def _server():
    service = FakeService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(_server) -> FakeService:
    _server.reset()
    return _server
