"""A fake session API and fake S3 on 127.0.0.1, scripted per test, recording every request the client makes. It keeps
each half of each window it stores (size, SHA-256 checksum, MD5 ETag) as the windows route reports them, honours the
grants' If-None-Match: * with S3's 412, and records a window once every half its session's capture mode needs is in."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from client import Backoff, UploadClient

TOKEN = "good-token"
# upload_dir with each grant asked for just before its PUT, and with its default prefetch of grants.
with_and_without_prefetch = pytest.mark.parametrize("prefetch", [0, None], ids=["no-prefetch", "prefetch"])
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


PRECONDITION_FAILED = (
    412,
    "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>PreconditionFailed</Code>"
    "<Message>At least one of the pre-conditions you specified did not hold</Message>"
    "<Condition>If-None-Match</Condition></Error>",
)
HALVES = {"audio_only": ("audio",), "audio_video": ("audio", "frames")}


def b64sha(data: bytes) -> str:
    """The base64 SHA-256 of `data`, as S3 checks it in x-amz-checksum-sha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def frames_bundle(entries: int, directories: int = 0) -> bytes:
    """A frames bundle: a ZIP of `entries` small JPEG-like frames (and `directories` directory entries)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(directories):
            archive.writestr(f"dir{n}/", b"")
        for n in range(entries):
            archive.writestr(f"frame_{n:04d}.jpg", b"\xff\xd8" + bytes([n % 256]) * 50 + b"\xff\xd9")
    return out.getvalue()


def half_record(body: bytes, checksum: bool = True) -> dict:
    """A half as the windows route reports it: what S3 said of the object one PUT stored."""
    return {
        "sizeBytes": len(body),
        "etag": hashlib.md5(body).hexdigest(),
        "checksumSha256": b64sha(body) if checksum else None,
        "recordedAt": "2025-01-01T00:00:00.000Z",
    }


@dataclass
class FakeService:
    """`script(route, ...)` queues the next answers of a route ("create", "status", "grant", "complete", "put",
    "windows"): a (status, body) pair, "drop" to cut the connection without an answer, ("hold", wait): call `wait()`,
    then answer as unscripted (a request in flight until the test lets it go), or for "put" ("stored", step): store
    the body, then answer with `step` (an answer lost after S3 stored the object). Grants say their URLs live
    `expires_in` seconds."""

    base_url: str = ""
    expires_in: int = 300
    sessions: dict[str, set[int]] = field(default_factory=dict)  # the recorded windows
    modes: dict[str, str] = field(default_factory=dict)
    halves: dict[str, dict[int, dict[str, dict]]] = field(default_factory=dict)  # session -> window -> half -> record
    scripts: dict[str, list] = field(default_factory=dict)
    refusals: dict[tuple[int, str], tuple[int, dict]] = field(default_factory=dict)  # (window, half) -> answer
    issued: list[tuple[int, str, str]] = field(default_factory=list)  # (window, half, URL signature) of each grant
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.expires_in = 300
        self.sessions.clear()
        self.modes.clear()
        self.halves.clear()
        self.scripts.clear()
        self.refusals.clear()
        self.issued.clear()
        self.requests.clear()

    def script(self, route: str, *steps) -> None:
        with self.lock:
            self.scripts.setdefault(route, []).extend(steps)

    def refuse(self, window: int, half: str, status: int, body: dict) -> None:
        """Every grant of this half answers this refusal, on its own route; a grants request asking for it answers it
        for the whole request (a 409 lists the half as refused instead), as the API refuses a half's bad input."""
        self.refusals[(window, half)] = (status, body)

    def next_step(self, route: str):
        with self.lock:
            queue = self.scripts.get(route)
            return queue.pop(0) if queue else None

    def new_session(self, recorded: set[int] = frozenset(), mode: str = "audio_only",
                    stored: dict[int, dict[str, bytes]] | None = None) -> str:
        """A session whose `recorded` windows hold every half (of unknown bytes), and `stored` halves these bytes."""
        session_id = str(uuid.uuid4())
        self.sessions[session_id], self.modes[session_id], self.halves[session_id] = set(), mode, {}
        for window in recorded:
            for half in HALVES[mode]:
                self.store(session_id, window, half, b"?" * 7)
        for window, bodies in (stored or {}).items():
            for half, body in bodies.items():
                self.store(session_id, window, half, body)
        return session_id

    def store(self, session_id: str, window: int, half: str, body: bytes, checksum: bool = True) -> None:
        """What the completion path records once S3 stored a half."""
        with_halves = self.halves[session_id].setdefault(window, {})
        with_halves[half] = half_record(body, checksum)
        if all(h in with_halves for h in HALVES[self.modes[session_id]]):
            self.sessions[session_id].add(window)

    def of(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def grants(self) -> list[Request]:
        return [r for r in self.of("POST", "/sessions/") if r.path.endswith("/audio")]

    @property
    def frames_grants(self) -> list[Request]:
        return [r for r in self.of("POST", "/sessions/") if r.path.endswith("/frames")]

    @property
    def batches(self) -> list[Request]:
        """The grants requests (several halves each)."""
        return [r for r in self.of("POST", "/sessions/") if r.path.endswith("/grants")]

    def asked(self, half: str = "audio") -> list[tuple[int, dict]]:
        """(window, grant request body) of each grant of this half asked for, on its own route or in a grants request,
        in the order asked."""
        asked = []
        for request in self.of("POST", "/sessions/"):
            if request.path.endswith(f"/{half}"):
                asked.append((int(request.query["windowIndex"]), json.loads(request.body)))
            elif request.path.endswith("/grants"):
                for upload in json.loads(request.body)["uploads"]:
                    fields = {k: v for k, v in upload.items() if k not in ("half", "windowIndex")}
                    asked += [(upload["windowIndex"], fields)] if upload["half"] == half else []
        return asked

    @property
    def puts(self) -> list[Request]:
        return self.of("PUT", "/s3/")

    def status_body(self, session_id: str) -> dict:
        recorded = sorted(self.sessions[session_id])
        ranges = [[w, w] for w in recorded]  # the API merges neighbours; the client must not rely on it
        halves = self.halves[session_id].values()
        return {
            "sessionId": session_id,
            "captureMode": self.modes[session_id],
            "status": "recording",
            "createdAt": "2025-01-01T00:00:00Z",
            "expectedWindowCount": None,
            "counts": {"audio": sum("audio" in h for h in halves), "frames": sum("frames" in h for h in halves),
                       "recorded": len(recorded), "ingested": len(recorded), "invalid": 0},
            "recordedWindows": ranges,
            "ingestedWindows": ranges,
            "missingWindows": [],
            "invalidWindows": [],
            "unexpectedWindows": [],
        }


    def windows_page(self, session_id: str, start: int, limit: int) -> dict:
        found = sorted((w, h) for w, h in self.halves[session_id].items() if w >= start)
        page = [
            {"windowIndex": w, "audio": h.get("audio"), "frames": h.get("frames"),
             "recorded": w in self.sessions[session_id], "ingested": w in self.sessions[session_id], "invalid": None}
            for w, h in found[:limit]
        ]
        return {"windows": page, "next": found[limit][0] if len(found) > limit else None}


def no_such_half(mode: str, half: str) -> str:
    return f"{half}: this session's captureMode is {mode}, which records no {half}"


def _route(parts: list[str]) -> str:
    """/s3/... is a PUT; /sessions, /sessions/{id}, /sessions/{id}/complete, /sessions/{id}/windows,
    /sessions/{id}/grants and /sessions/{id}/audio|frames the API's."""
    if parts[0] == "s3":
        return "put"
    if len(parts) <= 2:
        return "create" if len(parts) == 1 else "status"
    return {"complete": "complete", "windows": "windows", "grants": "grants"}.get(parts[2], "grant")


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

        def _scripted(self, route: str, parts: list[str], body: bytes) -> bool:
            """Answer as scripted for this route, if anything is queued; True when answered."""
            step = service.next_step(route)
            if isinstance(step, tuple) and step[0] == "hold":
                step[1]()
                return False
            if isinstance(step, tuple) and step[0] == "stored":
                self._store(parts, body)
                step = step[1]
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
            if self._scripted(route, parts, body):
                return None
            if route == "put":
                return self._put(parts, body)
            if route == "create":
                mode = json.loads(body)["captureMode"]
                return self._reply(201, {"sessionId": service.new_session(mode=mode), "captureMode": mode})
            session_id = parts[1]
            if session_id not in service.sessions:
                return self._reply(404, {"error": "session not found"})
            if route == "grant":
                return self._grant(session_id, parts[2], int(query["windowIndex"]), json.loads(body))
            if route == "grants":
                return self._grant_many(session_id, json.loads(body)["uploads"])
            if route == "windows":
                page = service.windows_page(session_id, int(query.get("from", 0)), int(query.get("limit", 100)))
                return self._reply(200, page)
            return self._reply(202 if route == "complete" else 200, service.status_body(session_id))

        def _grant(self, session_id: str, half: str, window: int, request: dict) -> None:
            if half not in HALVES[service.modes[session_id]]:
                return self._reply(400, {"error": no_such_half(service.modes[session_id], half)})
            if (window, half) in service.refusals:
                return self._reply(*service.refusals[(window, half)])
            return self._reply(200, self._granted(session_id, half, window, request))

        def _grant_many(self, session_id: str, uploads: list[dict]) -> None:
            """Each half as its own route grants it, in the order asked, each taking its refusal (`refuse`) or else the
            next scripted "grant" answer if one is queued: a 409 lists the half as refused (already recorded); any other
            refusal, or "drop", refuses the whole request, as the API refuses it for any half's input, the session, or
            a fault."""
            mode = service.modes[session_id]
            grants, refused = [], []
            for upload in uploads:
                half, window = upload["half"], upload["windowIndex"]
                if half not in HALVES[mode]:
                    return self._reply(400, {"error": no_such_half(mode, half)})
                step = service.refusals.get((window, half)) or service.next_step("grant")
                if isinstance(step, tuple) and step[0] == "hold":
                    step[1]()
                    step = None
                if step == "drop":
                    self.close_connection = True
                    return None
                if step is None or step[0] == 200:
                    granted = self._granted(session_id, half, window, upload) if step is None else step[1]
                    grants.append({**granted, "half": half})
                elif step[0] == 409:
                    refused.append({"windowIndex": window, "half": half, "error": step[1]["error"]})
                else:
                    return self._reply(*step)
            return self._reply(200, {"grants": grants, "refused": refused})

        def _granted(self, session_id: str, half: str, window: int, request: dict) -> dict:
            content_type = "audio/wav" if half == "audio" else "application/zip"
            headers = {"Content-Type": content_type, "Content-Length": str(request["sizeBytes"]), "If-None-Match": "*"}
            if half == "frames":
                headers["x-amz-meta-frame-count"] = str(request["frameCount"])
            if "sha256" in request:
                headers["x-amz-checksum-sha256"] = request["sha256"]
            with service.lock:
                signature = f"grant-{len(service.issued) + 1}"
                service.issued.append((window, half, signature))
            url = f"{service.base_url}/s3/{session_id}/{window}/{half}?X-Amz-Signature={signature}"
            return {
                "url": url,
                "s3Key": f"sessions/{session_id}/{window}",
                "windowIndex": window,
                "expiresIn": service.expires_in,
                "headers": headers,
            }

        def _put(self, parts: list[str], body: bytes) -> None:
            checksum = self.headers.get("x-amz-checksum-sha256")
            if checksum and checksum != b64sha(body):
                return self._reply(400, "<Error><Code>BadDigest</Code><Message>checksum mismatch</Message></Error>")
            session_id, window, half = parts[1], int(parts[2]), parts[3] if len(parts) > 3 else "audio"
            if self.headers.get("If-None-Match") == "*" and half in service.halves[session_id].get(window, {}):
                return self._reply(*PRECONDITION_FAILED)
            self._store(parts, body)
            return self._reply(200, "")

        def _store(self, parts: list[str], body: bytes) -> None:
            half = parts[3] if len(parts) > 3 else "audio"
            with service.lock:
                service.store(parts[1], int(parts[2]), half, body, checksum="x-amz-checksum-sha256" in self.headers)

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


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the client slept, in order: `client` records them instead of sleeping."""
    return []


@pytest.fixture
def client(fake, sleeps):
    """A client of the fake with 3 retries; rand() == 1.0 makes every jittered delay its ceiling, so the schedule is
    exact."""
    with UploadClient(fake.base_url, TOKEN, retries=3, backoff=Backoff(rand=lambda: 1.0), sleep=sleeps.append) as c:
        yield c
