"""UploadClient: sessions and window uploads against the session API, each upload a presigned PUT straight to S3."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from client.errors import ApiError, ClientError, UploadError
from client.report import windows_in
from client.responses import error_detail
from client.retry import Backoff, is_transient
from client.windows import Progress, WindowBody, find_windows

# What requests raises when no complete HTTP answer arrived; all of them are worth another attempt.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class UploadResult:
    window: int
    s3_key: str
    size_bytes: int
    attempts: int


@dataclass
class DirUploadResult:
    """What `upload_dir` did: `failed` maps a window to its error; the other windows are in `uploaded`/`skipped`."""

    uploaded: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, UploadError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class _Attempt(Exception):
    """One attempt failed; `transient` says whether a fresh attempt may succeed."""

    def __init__(self, message: str, status: int | None, transient: bool) -> None:
        super().__init__(message)
        self.message, self.status, self.transient = message, status, transient


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


class _LargeBlocks(HTTPAdapter):
    """Sends a body in 1 MiB blocks: urllib3's 16 KiB default cost a third of the throughput to the local stack."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, blocksize=1024 * 1024, **kwargs)


class UploadClient:
    """A client of the session API. Thread-safe: each thread gets its own HTTP connections."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        api_timeout: float = 30.0,
        retries: int = 5,
        backoff: Backoff | None = None,
        send_sha256: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout, self.api_timeout, self.retries = timeout, api_timeout, retries
        self.backoff = backoff or Backoff()
        self.send_sha256 = send_sha256
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[tuple[threading.Thread, requests.Session]] = []
        self._lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------------------------

    def _http(self, kind: str) -> requests.Session:
        """This thread's session for the API ("api") or for S3 ("s3"): only the API one carries the token."""
        http = getattr(self._local, kind, None)
        if http is None:
            http = requests.Session()
            if kind == "api":
                http.headers["Authorization"] = f"Bearer {self._token}"
            else:
                http.auth = _no_auth  # a set auth stops requests from adding ~/.netrc credentials to S3 requests
                for scheme in ("http://", "https://"):
                    http.mount(scheme, _LargeBlocks())
            setattr(self._local, kind, http)
            with self._lock:
                self._sessions.append((threading.current_thread(), http))
        return http

    def _close_sessions(self, *, all_threads: bool) -> None:
        """Close the connections of every thread, or only of threads that have ended (an upload_dir's workers)."""
        with self._lock:
            closing = [(t, s) for t, s in self._sessions if all_threads or not t.is_alive()]
            self._sessions = [pair for pair in self._sessions if pair not in closing]
        for _, http in closing:
            http.close()

    def close(self) -> None:
        self._close_sessions(all_threads=True)
        self._local = threading.local()

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API -----------------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: dict | None = None, *, query: dict | None = None) -> dict[str, Any]:
        """One API request; raises _Attempt on any failure, with the server's message."""
        try:
            response = self._http("api").request(
                method, self.api_url + path, json=body, params=query, timeout=self.api_timeout
            )
        except _NETWORK_ERRORS as exc:
            raise _Attempt(f"cannot reach the API at {self.api_url} ({type(exc).__name__})", None, True) from None
        if not response.ok:
            code, message = error_detail(response)
            raise _Attempt(message, response.status_code, is_transient(response.status_code, code, message))
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _Attempt("the API answered with something other than a JSON object", response.status_code, False)
        return data

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        retry: bool = True,
        query: dict | None = None,
    ) -> dict:
        for attempt in range(self.retries + 1):
            try:
                return self._api(method, path, body, query=query)
            except _Attempt as failure:
                # Only requests that are safe to repeat are retried, and only for failures that may pass.
                if not (retry and failure.transient) or attempt == self.retries:
                    raise ApiError(operation, failure.message, status=failure.status) from None
                self._sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")

    def create_session(self, capture_mode: str = "audio_only") -> dict[str, Any]:
        """POST /sessions. Not retried: a lost answer after the session was created would create a second one."""
        return self._call("create session", "POST", "/sessions", {"captureMode": capture_mode}, retry=False)

    def status(self, session_id: str) -> dict[str, Any]:
        return self._call(f"status of session {session_id}", "GET", f"/sessions/{session_id}")

    def complete(self, session_id: str, expected_window_count: int) -> dict[str, Any]:
        """POST /sessions/{id}/complete: the session is ready once windows 0..expected-1 are all recorded.

        Safe to repeat. The API answers 409 to a complete of a session already ready or incomplete, which is also
        what a retry sees when the first attempt took effect but its answer was lost: when the session did end
        with this very count, that is the completion asked for, and its status is returned instead of the 409.
        """
        try:
            return self._call(
                f"complete session {session_id}",
                "POST",
                f"/sessions/{session_id}/complete",
                {"expectedWindowCount": expected_window_count},
            )
        except ApiError as conflict:
            if conflict.status != 409:
                raise
            status = self.status(session_id)
            if status.get("expectedWindowCount") != expected_window_count or status.get("status") not in (
                "ready",
                "incomplete",
            ):
                raise
            return status

    def half_recorded(self, session_id: str, index: int, half: str) -> bool:
        """Whether the API has recorded this half ("audio" or "frames") of the window (GET .../windows)."""
        page = self._call(
            f"windows of session {session_id}",
            "GET",
            f"/sessions/{session_id}/windows",
            query={"from": index, "limit": 1},
        )
        windows = page.get("windows") or []
        return bool(windows) and windows[0].get("windowIndex") == index and windows[0].get(half) is not None

    # -- uploads -----------------------------------------------------------------------------------------------

    def upload_window(
        self,
        session_id: str,
        index: int,
        source: str | os.PathLike | bytes,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Upload one window; every attempt asks for a fresh grant, so an expired URL is cured by the retry."""
        body = WindowBody(source)
        grant_request: dict[str, Any] = {"sizeBytes": body.size}
        if self.send_sha256:
            grant_request["sha256"] = body.sha256()
        unanswered_put = False  # an earlier attempt's PUT may have stored the object, its answer lost
        for attempt in range(self.retries + 1):
            putting = False
            try:
                grant = self._api("POST", f"/sessions/{session_id}/audio", grant_request, query={"windowIndex": index})
                putting = True
                self._put(grant, body, progress, may_exist=unanswered_put)
                return UploadResult(index, str(grant.get("s3Key", "")), body.size, attempt + 1)
            except _Attempt as failure:
                if failure.status == 409 and unanswered_put and self.half_recorded(session_id, index, "audio"):
                    # The grant refuses a half that is already recorded (write-once): the unanswered PUT stored it.
                    return UploadResult(index, "", body.size, attempt + 1)
                unanswered_put |= putting and (failure.status is None or failure.status >= 500)
                if not failure.transient or attempt == self.retries:
                    raise UploadError(index, failure.message, status=failure.status, attempts=attempt + 1) from None
                self._sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")

    def _put(self, grant: dict[str, Any], body: WindowBody, progress: Progress | None, *, may_exist: bool) -> None:
        url, headers = grant.get("url"), grant.get("headers")
        if not isinstance(url, str) or not isinstance(headers, dict):
            raise _Attempt("the API's upload grant has no url or headers", None, False)
        reader = body.reader(progress)
        try:
            # Exactly the granted headers: the URL's signature covers them, and nothing else is ours to add.
            response = self._http("s3").put(url, data=reader, headers=headers, timeout=self.timeout)
        except _NETWORK_ERRORS as exc:
            raise _Attempt(f"upload to storage failed ({type(exc).__name__})", None, True) from None
        finally:
            reader.close()
        if not response.ok:
            code, message = error_detail(response)
            if response.status_code == 412 and code == "PreconditionFailed":
                # Grants are write-once (If-None-Match: *): the key already holds an object. After a PUT that went
                # unanswered, it is most likely the one that PUT stored; otherwise it is not ours to replace.
                if may_exist:
                    return
                message = "the window is already stored (uploads are write-once)"
            raise _Attempt(message, response.status_code, is_transient(response.status_code, code, message))

    def upload_dir(
        self,
        session_id: str,
        directory: str | os.PathLike,
        *,
        concurrency: int = 4,
        progress: Progress | None = None,
        resume: bool = True,
    ) -> DirUploadResult:
        """Upload every window_NNN.wav in `directory`, `concurrency` at a time; skip windows already recorded.

        One window failing does not stop the others: its error is in the result's `failed`.
        """
        windows = find_windows(directory)
        recorded = set(windows_in(self.status(session_id)["recordedWindows"])) if resume else set()
        result = DirUploadResult(skipped=[w for w in windows if w in recorded])
        todo = {w: path for w, path in windows.items() if w not in recorded}
        tally = _Tally(sum(WindowBody(path).size for path in todo.values()), progress)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {
                w: pool.submit(self.upload_window, session_id, w, path, tally.window(w)) for w, path in todo.items()
            }
            for window, future in futures.items():
                try:
                    future.result()
                    result.uploaded.append(window)
                except UploadError as exc:
                    result.failed[window] = exc
                except ClientError as exc:  # e.g. the file vanished after it was listed
                    result.failed[window] = UploadError(window, str(exc))
        self._close_sessions(all_threads=False)  # the pool's threads have ended: their connections are idle for good
        return result


class _Tally:
    """Adds every window's progress into one (sent, total) for the whole directory."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self._total, self._progress, self._sent = total, progress, 0
        self._by_window: dict[int, int] = {}
        self._lock = threading.Lock()
        if progress:
            progress(0, total)

    def window(self, index: int) -> Progress | None:
        if self._progress is None:
            return None

        def report(sent: int, _size: int) -> None:
            with self._lock:
                self._sent += sent - self._by_window.get(index, 0)
                self._by_window[index] = sent
                self._progress(self._sent, self._total)

        return report
