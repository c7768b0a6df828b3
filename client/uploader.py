"""UploadClient: sessions and window uploads against the session API, each upload a presigned PUT straight to S3."""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from client.errors import ApiError, ClientError, UploadError, UsageError
from client.responses import error_detail
from client.retry import Backoff, is_expired, is_transient
from client.windows import (
    AUDIO,
    FRAMES,
    HALVES,
    MAX_FRAMES_PER_WINDOW,
    MAX_GRANTS_PER_REQUEST,
    Progress,
    WindowBody,
    find_window_files,
)
from client.windows import frame_count as count_frames

# What requests raises when no complete HTTP answer arrived; all of them are worth another attempt.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")
WINDOWS_PAGE = 1000  # the windows route's largest page
_NAMES = {AUDIO: "audio", FRAMES: "frames bundle"}

HalfProgress = Callable[[str, int, int], None]  # (half, halves of that kind uploaded so far, halves of it to upload)


@dataclass(frozen=True)
class UploadResult:
    window: int
    s3_key: str
    size_bytes: int
    attempts: int
    half: str = AUDIO
    already_stored: bool = False
    """The half was stored already, with these bytes (an earlier attempt or run): nothing was sent or replaced."""


@dataclass
class DirUploadResult:
    """What `upload_dir` did: `failed` maps a window to its error; the other windows are in `uploaded` (a half of
    theirs sent by this run) or `skipped` (every half in the directory already stored). `incomplete` maps a window to
    the halves its session needs that the directory lacks (known when resuming): those windows cannot be recorded."""

    uploaded: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, UploadError] = field(default_factory=dict)
    incomplete: dict[int, tuple[str, ...]] = field(default_factory=dict)
    halves_uploaded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HALVES, 0))

    @property
    def ok(self) -> bool:
        return not self.failed


class _Attempt(Exception):
    """One attempt failed; `transient` says whether a fresh attempt may succeed, `expired` that S3 refused the URL as
    expired."""

    def __init__(self, message: str, status: int | None, transient: bool, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message, self.status, self.transient, self.expired = message, status, transient, expired


@dataclass(frozen=True)
class _Half:
    """One half of a window to upload: its bytes, and the body of the grant request that asks for its URL (size, frame
    count, SHA-256)."""

    session_id: str
    index: int
    half: str
    body: WindowBody
    request: dict[str, Any]


@dataclass(frozen=True)
class _Grant:
    """The API's grant, when it was asked for (the client's clock) and how many seconds its URL lives (`expiresIn`;
    infinite when the API did not say)."""

    answer: dict[str, Any]
    asked_at: float
    lifetime: float

    def usable(self, now: float, margin: float) -> bool:
        """Whether the URL still has more than `margin` seconds to live (at most half its lifetime, so that a
        short-lived grant is not stale as it arrives). Counted from the request: S3 counts from the signing, a little
        later, so the URL lives at least this long."""
        return now + min(margin, self.lifetime / 2) < self.asked_at + self.lifetime


def _lifetime(answer: dict[str, Any]) -> float:
    expires_in = answer.get("expiresIn")
    valid = isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0
    return float(expires_in) if valid else math.inf


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
        grant_margin: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`grant_margin`: a grant asked for ahead of its PUT (`upload_dir`'s prefetch) whose URL has fewer seconds
        than this to live when its PUT is due is asked for again. `clock` and `sleep` are the client's time."""
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        if grant_margin < 0:
            raise ValueError("grant_margin must be 0 or more")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout, self.api_timeout, self.retries = timeout, api_timeout, retries
        self.backoff = backoff or Backoff()
        self.send_sha256 = send_sha256
        self.grant_margin = grant_margin
        self._sleep = sleep
        self._clock = clock
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

    def windows(self, session_id: str, start: int = 0, limit: int = 100) -> dict[str, Any]:
        """GET /sessions/{id}/windows: one page of per-window detail from window `start` on (`next` starts the
        following page, None on the last)."""
        return self._call(
            f"windows of session {session_id}",
            "GET",
            f"/sessions/{session_id}/windows",
            query={"from": start, "limit": limit},
        )

    def iter_windows(self, session_id: str, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Every window with a half recorded, from window `start` (up to `stop`, inclusive), page after page."""
        page_start: int | None = start
        while page_start is not None and (stop is None or page_start <= stop):
            page = self.windows(session_id, page_start, WINDOWS_PAGE)
            for window in page.get("windows") or []:
                if stop is not None and window.get("windowIndex", 0) > stop:
                    return
                yield window
            page_start = page.get("next")

    def stored_halves(self, session_id: str, start: int = 0, stop: int | None = None) -> dict[int, set[str]]:
        """window -> the halves the backend recorded (from the windows route; the status only says a window is whole).
        A refused (invalid) upload is not recorded: its half is to be uploaded again."""
        stored: dict[int, set[str]] = {}
        for window in self.iter_windows(session_id, start, stop):
            halves = {half for half in HALVES if isinstance(window.get(half), dict)}
            if halves:
                stored[window["windowIndex"]] = halves
        return stored

    def _held(self, session_id: str, first: int, last: int) -> tuple[tuple[str, ...], dict[int, set[str]]]:
        """The halves the session needs, and window -> the halves it holds among windows `first` to `last`. From its
        status alone when every half it counts is in a recorded window (a new session, an audio-only one, one whose
        windows are whole): one request, its body the same size however many windows it holds. Otherwise from the
        windows route, which says which half of a window arrived."""
        status = self.status(session_id)
        needed = HALVES if status.get("captureMode") == "audio_video" else (AUDIO,)
        spans = _whole_windows(status, len(needed))
        if spans is None:
            return needed, self.stored_halves(session_id, first, last)
        return needed, {
            window: set(needed) for low, high in spans for window in range(max(low, first), min(high, last) + 1)
        }

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
        """Upload one window's audio; every attempt asks for a fresh grant, so an expired URL is cured by the retry."""
        return self._upload_half(self._half(session_id, index, AUDIO, source), progress)

    def upload_frames(
        self,
        session_id: str,
        index: int,
        source: str | os.PathLike | bytes,
        frame_count: int | None = None,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Upload one window's frames bundle: a ZIP of its frames, one entry per frame (audio_video sessions only).
        The grant binds `frame_count` to the object (counted from the archive when None); the backend checks it
        against the archive's entries."""
        return self._upload_half(self._half(session_id, index, FRAMES, source, frame_count), progress)

    def _half(
        self,
        session_id: str,
        index: int,
        half: str,
        source: str | os.PathLike | bytes,
        frame_count: int | None = None,
        sha256: str | None = None,
    ) -> _Half:
        """A half ready to be granted: its size, frame count and SHA-256 read (`sha256`: already read). UsageError for
        bad input, before anything is sent."""
        fields: dict[str, Any] = {}
        if half == FRAMES:
            if frame_count is None:
                frame_count = count_frames(source)
            if isinstance(frame_count, bool) or not isinstance(frame_count, int) or not (
                1 <= frame_count <= MAX_FRAMES_PER_WINDOW
            ):
                raise UsageError(f"window {index}: frame_count must be an integer from 1 to {MAX_FRAMES_PER_WINDOW}")
            fields["frameCount"] = frame_count
        body = WindowBody(source)
        request: dict[str, Any] = {"sizeBytes": body.size, **fields}
        if self.send_sha256:
            request["sha256"] = sha256 or body.sha256()
        return _Half(session_id, index, half, body, request)

    def _grant(self, half: _Half) -> _Grant:
        """One grant request (POST /sessions/{id}/audio or /frames); raises _Attempt."""
        asked_at = self._clock()
        answer = self._api(
            "POST", f"/sessions/{half.session_id}/{half.half}", half.request, query={"windowIndex": half.index}
        )
        return _Grant(answer, asked_at, _lifetime(answer))

    def _grants(self, halves: list[_Half]) -> list[_Grant | _Attempt]:
        """The grants of several halves of one session, in their order, asked for in one request (POST
        /sessions/{id}/grants): each a _Grant, or the _Attempt its own route would have raised (a 409 for a half already
        recorded). When the request fails for good (a 400, 404, 409; or a deployment without the route), each half is
        asked for on its own route, so that each gets its own answer; when it may pass (a network error, 5xx, 429),
        that failure is each half's first attempt."""
        if len(halves) == 1:
            return [self._grant_or_refusal(halves[0])]
        asked_at = self._clock()
        uploads = [{"half": half.half, "windowIndex": half.index, **half.request} for half in halves]
        try:
            answer = self._api("POST", f"/sessions/{halves[0].session_id}/grants", {"uploads": uploads})
        except _Attempt as failure:
            if failure.transient:
                return [failure] * len(halves)
            return [self._grant_or_refusal(half) for half in halves]
        outcomes: dict[tuple[int, str], _Grant | _Attempt] = {}
        for granted in answer.get("grants") or []:
            if isinstance(granted, dict):
                outcomes[(granted.get("windowIndex"), granted.get("half"))] = _Grant(granted, asked_at, _lifetime(granted))
        for refused in answer.get("refused") or []:
            if isinstance(refused, dict):
                key = (refused.get("windowIndex"), refused.get("half"))
                outcomes[key] = _Attempt(str(refused.get("error") or "already recorded"), 409, False)
        missing = _Attempt("the API's grants answer left this half out", None, True)
        return [outcomes.get((half.index, half.half), missing) for half in halves]

    def _grant_or_refusal(self, half: _Half) -> _Grant | _Attempt:
        try:
            return self._grant(half)
        except _Attempt as failure:
            return failure

    def _upload_half(
        self, half: _Half, progress: Progress | None, prefetched: _Grant | _Attempt | None = None
    ) -> UploadResult:
        """Grant and PUT one half, with retries. `prefetched`: the outcome of the first attempt's grant request, asked
        for ahead of time (by upload_dir's prefetch): used when its URL still has `grant_margin` to live, else asked
        for again; a URL that expires all the same is asked for again once, at once, without spending a retry."""
        index = half.index
        unanswered_put = False  # an earlier attempt's PUT may have stored the object, its answer lost
        retry = attempts = 0
        while True:
            attempts += 1
            putting, s3_key, ahead = False, "", False
            try:
                try:
                    grant = None
                    if prefetched is not None:
                        taken, prefetched = prefetched, None
                        if isinstance(taken, _Attempt):
                            raise taken  # the first attempt's grant request failed ahead of time
                        if taken.usable(self._clock(), self.grant_margin):
                            grant, ahead = taken, True
                    if grant is None:
                        grant = self._grant(half)
                except _Attempt as refused:
                    if refused.status != 409:
                        raise
                    stored = refused  # the session no longer records, or (write-once) this half is already recorded
                else:
                    s3_key, putting = str(grant.answer.get("s3Key", "")), True
                    stored = self._put(grant.answer, half.body, progress)
                if stored is None:
                    return UploadResult(index, s3_key, half.body.size, attempts, half.half)
                self._resolve_stored(half, stored, may_be_ours=unanswered_put)
                return UploadResult(index, s3_key, half.body.size, attempts, half.half, already_stored=True)
            except _Attempt as failure:
                unanswered_put |= putting and (failure.status is None or failure.status >= 500)
                if ahead and failure.expired:
                    continue  # it expired while waiting its turn (or the clocks disagree): not a failure of the upload
                if not failure.transient or retry == self.retries:
                    raise UploadError(
                        index, failure.message, status=failure.status, attempts=attempts, half=half.half
                    ) from None
                self._sleep(self.backoff.delay(retry))
                retry += 1

    def _put(self, grant: dict[str, Any], body: WindowBody, progress: Progress | None) -> _Attempt | None:
        """PUT the bytes as granted: None once stored, the refusal when the key already holds an object (S3's 412 to
        the grant's If-None-Match: *); raises _Attempt on any other failure."""
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
        if response.ok:
            return None
        code, message = error_detail(response)
        if response.status_code == 412 and code == "PreconditionFailed":
            return _Attempt(message, 412, False)
        status = response.status_code
        raise _Attempt(message, status, is_transient(status, code, message), expired=is_expired(status, code, message))

    def _resolve_stored(self, upload: _Half, refusal: _Attempt, *, may_be_ours: bool) -> None:
        """The key already holds an object (a 412 from S3), or the grant was refused with a 409: return when the half
        the backend recorded is these very bytes, raise _Attempt otherwise. Asked of the windows route, which says
        what S3 reported of the stored object (size, checksum, ETag)."""
        half = upload.half
        recorded = self._recorded_half(upload.session_id, upload.index, half)
        if recorded is None:
            if refusal.status == 409:
                raise refusal  # not write-once: the session's state refuses the grant
            if may_be_ours:
                # S3 holds an object the backend has not recorded yet (its event is on its way): most likely the one
                # our unanswered PUT stored. Nothing to compare yet; if it fails validation, the window shows it.
                return
            # Not ours, as far as we know: ask again once its event is handled (or, if it fails validation, once it
            # is moved out of the way, freeing the key).
            raise _Attempt(f"the window's {_NAMES[half]} is stored but not recorded yet", 412, True)
        same = _same_bytes(recorded, upload.body)
        # Without a checksum or ETag to compare, an earlier attempt of ours whose PUT went unanswered most likely
        # stored it: that attempt cannot be told apart from another writer, and the write-once key keeps either.
        if same or (same is None and may_be_ours):
            return
        differs = ": the stored one has other content" if same is False else ""
        raise _Attempt(
            f"the window's {_NAMES[half]} is already stored (uploads are write-once){differs}", refusal.status, False
        )

    def _recorded_half(self, session_id: str, index: int, half: str) -> dict[str, Any] | None:
        """The windows route's record of this half of the window, or None while it has none."""
        page = self._api("GET", f"/sessions/{session_id}/windows", query={"from": index, "limit": 1})
        windows = page.get("windows") or []
        if not windows or windows[0].get("windowIndex") != index:
            return None
        record = windows[0].get(half)
        return record if isinstance(record, dict) else None

    def upload_dir(
        self,
        session_id: str,
        directory: str | os.PathLike,
        *,
        concurrency: int = 4,
        prefetch: int | None = None,
        progress: Progress | None = None,
        halves: HalfProgress | None = None,
        resume: bool = True,
    ) -> DirUploadResult:
        """Upload every window_NNN.wav (the audio) and window_NNN.zip (the frames bundle, its frame count read from
        the archive) in `directory`, `concurrency` windows at a time, a window's audio before its frames. With
        `resume`, halves the backend already holds are skipped, each half on its own: the session's status says which
        (or, while some window is not whole, the windows route).

        The grants are asked for ahead of the PUTs, in upload order, while earlier PUTs are in flight, several halves
        a request (POST /sessions/{id}/grants): at most `prefetch` of them (default: twice `concurrency`) being asked
        for or granted and not yet taken by a PUT, so no more than that many files are read (hashed) ahead. 0 asks for
        each grant on its half's own route just before its PUT.

        `progress` gets the bytes of the whole directory, `halves` each kind of half as it completes. One window
        failing does not stop the others: its error is in the result's `failed`.
        """
        # Twice the PUTs in flight: a grants request waits for half the places to be free, and the other half keeps
        # the workers going for its round trip, which under load is about as long as a PUT's.
        prefetch = 2 * max(1, concurrency) if prefetch is None else prefetch
        if prefetch < 0:
            raise ValueError("prefetch must be 0 or more")
        files = find_window_files(directory)
        result = DirUploadResult()
        stored: dict[int, set[str]] = {}
        hashed: dict[Path, str] = {}  # SHA-256s read while the resume check's answer was on its way
        if resume and files:
            with ThreadPoolExecutor(max_workers=1) as beside:
                checked = beside.submit(self._held, session_id, min(files), max(files))
                if prefetch and self.send_sha256:
                    in_order = (found.of(half) for found in files.values() for half in found.halves)
                    hashed = _hash_until(checked, in_order, prefetch)
                needed, stored = checked.result()
            result.incomplete = {
                w: missing for w, f in files.items() if (missing := tuple(h for h in needed if f.of(h) is None))
            }
        todo: dict[int, list[tuple[str, Path]]] = {}
        for window, found in files.items():
            sending = [(half, found.of(half)) for half in found.halves if half not in stored.get(window, ())]
            if sending:
                todo[window] = sending
            else:
                result.skipped.append(window)
        tally = _Tally(
            sum(WindowBody(path).size for sending in todo.values() for _, path in sending),
            progress,
            {half: sum(h == half for sending in todo.values() for h, _ in sending) for half in HALVES},
            halves,
        )
        grants = None
        if prefetch and todo:
            grants = _GrantPrefetch(
                lambda w, half, path: self._half(session_id, w, half, path, sha256=hashed.pop(path, None)),
                self._grants,
                list(todo.items()),
                prefetch,
            )
        try:
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                futures = {
                    w: pool.submit(self._upload_files, session_id, w, sending, tally, grants)
                    for w, sending in todo.items()
                }
                for window, future in futures.items():
                    try:
                        future.result()
                        result.uploaded.append(window)
                    except UploadError as exc:
                        result.failed[window] = exc
        finally:
            if grants is not None:
                grants.stop()
        result.halves_uploaded = tally.done
        self._close_sessions(all_threads=False)  # the pool's threads have ended: their connections are idle for good
        return result

    def _upload_files(
        self,
        session_id: str,
        index: int,
        sending: list[tuple[str, Path]],
        tally: _Tally,
        grants: _GrantPrefetch | None = None,
    ) -> None:
        try:
            for half, path in sending:
                try:
                    if grants is None:
                        uploaded = self._upload_half(self._half(session_id, index, half, path), tally.progress(index, half))
                    else:
                        upload, prefetched = grants.take(index, half)
                        uploaded = self._upload_half(upload, tally.progress(index, half), prefetched)
                except UploadError:
                    raise
                except ClientError as exc:  # a file that vanished after it was listed, a bundle that is no ZIP
                    raise UploadError(index, str(exc), half=half) from None
                tally.completed(index, half, uploaded.size_bytes)
        finally:
            if grants is not None:
                grants.drop(index)  # a window that failed sends no more halves: their grants are not waited for


class _GrantPrefetch:
    """Asks for the grants of upload_dir's halves ahead of its PUT workers, several halves a request, on threads of its
    own: a grant's round trip then overlaps the PUTs in flight instead of delaying the PUT after it, and the API's cost
    of a grant (the request, the token check, the session's read) is shared by the halves of a request.

    The halves go into requests in upload order, a window's audio before its frames. At most `ahead` halves are being
    granted, or granted and not yet taken by a worker, so the reading (hashing) ahead is bounded. A request asks for
    half that many (or the halves left) once there is room for them: the grants come several at a time, not one as
    each PUT starts, and the first PUTs wait for a request of half the look-ahead, not of all of it.

    Each half's outcome is its prepared `_Half` with its grant, or the grant request's failure (`_Attempt`: the
    worker treats it as its first attempt's), or the ClientError of preparing it (a file that vanished).

    Why it never stalls: a thread waits only while every half it has put into a request is answered. Every half held
    went into a request before every half not yet in one, so it is of a window no later than any a waiting worker
    has: one that a worker has started (the workers take the windows in the same order), and takes the half of
    before it waits for a later one. So the halves held are taken, and a thread's wait ends, however few threads and
    workers there are."""

    THREADS = 2  # one request being answered while the next is asked for

    def __init__(
        self,
        prepare: Callable[[int, str, Path], _Half],
        grants: Callable[[list[_Half]], list[_Grant | _Attempt]],
        order: list[tuple[int, list[tuple[str, Path]]]],
        ahead: int,
    ) -> None:
        self._prepare, self._grants, self._ahead = prepare, grants, ahead
        self._halves = [(index, half, path) for index, sending in order for half, path in sending]
        self._batch = max(1, min(ahead // 2, MAX_GRANTS_PER_REQUEST))  # the halves a request asks for
        self._next = 0  # the position in `_halves` of the next half to ask for
        self._outcomes: dict[tuple[int, str], tuple[_Half, _Grant | _Attempt] | ClientError] = {}
        self._dropped: set[int] = set()  # windows whose halves no worker will take
        self._held = 0  # halves being granted, or granted and not yet taken
        self._stopping = False
        threads = min(self.THREADS, ahead)
        self._running = threads
        self._error: BaseException | None = None  # what ended a thread, if not the end of the halves
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=f"grant-prefetch-{n}", daemon=True) for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def take(self, index: int, half: str) -> tuple[_Half, _Grant | _Attempt]:
        """This half, its grant asked for (waits until it is); raises the ClientError of preparing it."""
        key = (index, half)
        with self._changed:
            self._changed.wait_for(lambda: key in self._outcomes or not self._running)
            if key not in self._outcomes:
                raise RuntimeError("the grant prefetch has stopped") from self._error
            outcome = self._outcomes.pop(key)
            self._held -= 1
            self._changed.notify_all()
        if isinstance(outcome, ClientError):
            raise outcome
        return outcome

    def drop(self, index: int) -> None:
        """No worker will take this window's halves any more: forget their outcomes and ask for no more of them."""
        with self._changed:
            self._dropped.add(index)
            for half in HALVES:
                if self._outcomes.pop((index, half), None) is not None:
                    self._held -= 1
            self._changed.notify_all()

    def stop(self) -> None:
        """Ask for no more grants; returns once the threads have ended (their current requests answered)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        try:
            while batch := self._reserve():
                outcomes = self._ask(batch)
                with self._changed:
                    for (index, half, _), outcome in zip(batch, outcomes, strict=True):
                        if index in self._dropped:
                            self._held -= 1
                        else:
                            self._outcomes[(index, half)] = outcome
                    self._changed.notify_all()
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            # Once every thread has ended, what a worker still waits for will never come (every other half is ready,
            # or its window dropped).
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def _left(self) -> int:
        """The halves not yet asked for, past those of dropped windows (skipped, as no worker will take them)."""
        while self._next < len(self._halves) and self._halves[self._next][0] in self._dropped:
            self._next += 1
        return len(self._halves) - self._next

    def _reserve(self) -> list[tuple[int, str, Path]]:
        """The next `_batch` halves to ask for (or those left), counted as held, once there are places for them; []
        when stopping or none is left."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._stopping or not self._left() or self._ahead - self._held >= min(self._batch, self._left())
            )
            if self._stopping:
                return []
            batch: list[tuple[int, str, Path]] = []
            while self._left() and len(batch) < self._batch:
                batch.append(self._halves[self._next])
                self._next += 1
            self._held += len(batch)
            return batch

    def _ask(self, batch: list[tuple[int, str, Path]]) -> list[tuple[_Half, _Grant | _Attempt] | ClientError]:
        """Each half prepared and its grant asked for, all in one request; a half that cannot be prepared is left out
        of the request, its outcome the ClientError."""
        prepared: list[_Half | ClientError] = []
        for index, half, path in batch:
            try:
                prepared.append(self._prepare(index, half, path))
            except ClientError as exc:
                prepared.append(exc)
        asking = [upload for upload in prepared if isinstance(upload, _Half)]
        granted = iter(self._grants(asking) if asking else [])
        return [upload if isinstance(upload, ClientError) else (upload, next(granted)) for upload in prepared]


def _hash_until(answered: Future, paths: Iterable[Path], limit: int) -> dict[Path, str]:
    """The SHA-256s of the first of these files, at most `limit`, in order, read until `answered` is done: work that
    preparing their halves would do after the answer, done while waiting for it."""
    hashed: dict[Path, str] = {}
    for path in itertools.islice(paths, limit):
        if answered.done():
            break
        try:
            hashed[path] = WindowBody(path).sha256()
        except ClientError:
            break  # preparing the half says what is wrong with it
    return hashed


def _whole_windows(status: dict[str, Any], needed: int) -> list[tuple[int, int]] | None:
    """The status's recorded windows as (first, last) ranges when they hold every half it counts (each of `needed`
    halves); None when some half is in a window not yet whole, or the status says too little to tell."""
    counts, spans = status.get("counts"), status.get("recordedWindows")
    if not isinstance(counts, dict) or not isinstance(spans, list):
        return None
    numbers = [counts.get(name) for name in (*HALVES, "recorded")]
    if not all(isinstance(n, int) for n in numbers) or sum(numbers[:-1]) != numbers[-1] * needed:
        return None
    if not all(isinstance(span, list) and len(span) == 2 and all(isinstance(n, int) for n in span) for span in spans):
        return None
    return [(low, high) for low, high in spans]


def _same_bytes(recorded: dict[str, Any], body: WindowBody) -> bool | None:
    """Whether the half the backend recorded is `body`: by size, then by SHA-256 checksum when S3 reported one, then
    by ETag (the MD5 of an object one PUT stored with SSE-S3; no proof either way with SSE-KMS). None: unknown."""
    if recorded.get("sizeBytes") != body.size:
        return False
    checksum = recorded.get("checksumSha256")
    if isinstance(checksum, str) and checksum:
        return checksum == body.sha256()
    etag = str(recorded.get("etag") or "").strip('"')
    if _MD5_ETAG.fullmatch(etag) and etag == body.md5_hex():
        return True
    return None


class _Tally:
    """Adds every half's progress into one (sent, total) for the whole directory, and counts the halves completed."""

    def __init__(
        self, total: int, progress: Progress | None, halves_total: dict[str, int], halves: HalfProgress | None
    ) -> None:
        self._total, self._progress, self._sent = total, progress, 0
        self._by_half: dict[tuple[int, str], int] = {}
        self._halves, self._halves_total = halves, halves_total
        self.done = dict.fromkeys(HALVES, 0)
        self._lock = threading.Lock()
        if progress:
            progress(0, total)
        if halves:
            for half, count in halves_total.items():
                if count:
                    halves(half, 0, count)

    def progress(self, index: int, half: str) -> Progress | None:
        if self._progress is None:
            return None

        def report(sent: int, _size: int) -> None:
            with self._lock:
                self._sent += sent - self._by_half.get((index, half), 0)
                self._by_half[(index, half)] = sent
                self._progress(self._sent, self._total)

        return report

    def completed(self, index: int, half: str, size: int) -> None:
        """A half is stored: all its bytes count as sent, even when none were (a 409 found them already stored)."""
        with self._lock:
            self._sent += size - self._by_half.get((index, half), 0)
            self._by_half[(index, half)] = size
            self.done[half] += 1
            if self._progress:
                self._progress(self._sent, self._total)
            if self._halves:
                self._halves(half, self.done[half], self._halves_total[half])
