"""`make demo`: start the local stack, then for an audio_only session and an audio_video one (each window's audio and
its frames bundle): upload the windows with the client, complete the session, and check that each window was ingested
exactly once (with its frame count) and the session's SessionReady event fired once."""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import logging
import math
import sys
import tempfile
import time
import wave
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from client import ClientError, UploadClient, window_filename
from client.progress import ProgressBar
from client.report import status_table
from client.windows import FRAMES
from devstack import LOG_FORMAT
from devstack.stack import DevStack
from handlers import contract, layout

LOG_FILE = Path(".devstack") / "demo.log"
SESSION_READY_WAIT_SECONDS = 10
SAMPLE_RATE = 16_000  # 16 kHz, 16-bit mono: about 2 MB per 60 s window, as the app records
# A stand-in for one frame: JPEG's start and end markers around filler (nothing in the pipeline decodes a frame; the
# completion path counts a bundle's entries).
FRAME_JPEG = b"\xff\xd8\xff\xe0" + bytes(96) + b"\xff\xd9"


def write_wav(path: Path, seconds: float, frequency: int = 440) -> Path:
    """A tone of `seconds` (an integer frequency makes one second exactly periodic, so one second is tiled)."""
    second = array.array(
        "h", (int(12_000 * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)) for n in range(SAMPLE_RATE))
    ).tobytes()
    frames = second * int(seconds) + second[: 2 * int((seconds % 1) * SAMPLE_RATE)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(frames)
    return path


def write_windows(directory: Path, count: int, seconds: float = 1.0) -> list[Path]:
    """window_000.wav .. window_{count-1}.wav, each a different note."""
    return [write_wav(directory / window_filename(w), seconds, 220 + 20 * w) for w in range(count)]


def write_bundle(path: Path, frames: int) -> Path:
    """A frames bundle: a ZIP of `frames` entries, one per frame, stored (JPEGs do not compress)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as bundle:
        for frame in range(frames):
            bundle.writestr(f"frame_{frame:04d}.jpg", FRAME_JPEG)
    return path


def write_bundles(directory: Path, count: int, frames: int) -> dict[int, int]:
    """window_000.zip .. window_{count-1}.zip, each of a different number of frames around `frames`; window -> its
    frame count."""
    counts = {w: frames + w % 5 for w in range(count)}
    for window, frame_count in counts.items():
        write_bundle(directory / window_filename(window, FRAMES), frame_count)
    return counts


def session_ready_events(stack: DevStack, session_id: str) -> list[dict]:
    return [detail for detail in stack.session_ready_events() if detail["sessionId"] == session_id]


def wait_for_session_ready(stack: DevStack, session_id: str, timeout: float = SESSION_READY_WAIT_SECONDS) -> None:
    """Until the processing bus delivered the session's SessionReady event, or the timeout passed."""
    deadline = time.monotonic() + timeout
    while not session_ready_events(stack, session_id) and time.monotonic() < deadline:
        time.sleep(0.1)


def check(stack: DevStack, status: dict, count: int, frame_counts: dict[int, int] | None = None) -> list[str]:
    """Every way the session falls short of "every window recorded and ingested exactly once, each ingest request
    with the window's frame count (`frame_counts`, 0 for every window when None: audio only), and one SessionReady
    event naming every window and each of its halves"."""
    session_id = status["sessionId"]
    expected = list(range(count))
    frame_counts = frame_counts if frame_counts is not None else dict.fromkeys(expected, 0)
    problems = [] if status["status"] == "ready" else [f"session is {status['status']}, not ready"]
    if status["recordedWindows"] != [[0, count - 1]]:
        problems.append(f"recorded windows are {status['recordedWindows']}, expected [[0, {count - 1}]]")
    ingested: dict[int, list[int]] = {}
    for request in stack.ingest_requests(session_id):
        ingested.setdefault(request["windowIndex"], []).append(request["frameCount"])
    if sorted(ingested) != expected or any(len(requests) != 1 for requests in ingested.values()):
        wrong = {w: len(ingested.get(w, [])) for w in expected if len(ingested.get(w, [])) != 1}
        problems.append(f"ingest invocations per window not all 1: {wrong or ingested}")
    wrong_counts = {w: (c, frame_counts[w]) for w, (c, *_) in ingested.items() if c != frame_counts.get(w)}
    if wrong_counts:
        problems.append(f"ingest requests with the wrong frameCount (window: (requested, expected)): {wrong_counts}")
    if dead := stack.dlq_messages():
        problems.append(f"{len(dead)} event(s) in the DLQ")
    events = session_ready_events(stack, session_id)
    halves = [layout.Media.AUDIO, layout.Media.FRAMES] if status["captureMode"] == "audio_video" else [layout.Media.AUDIO]
    if len(events) != 1:
        problems.append(f"{len(events)} SessionReady events for the session, expected exactly 1")
    elif (events[0].get("windowCount"), events[0].get("windows")) != (count, [[0, count - 1]]) or any(
        [events[0]["keyTemplates"][media].format(windowIndex=w) for w in expected]
        != [layout.object_key(session_id, w, media) for w in expected]
        for media in halves
    ):
        problems.append(f"the SessionReady event {events[0]} does not name the {count} windows' {halves}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__)
    parser.add_argument("--windows", type=int, default=12, help="how many windows to record (default 12)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of audio per window (default 1)")
    parser.add_argument("--frames", type=int, default=24, help="frames per window, about (default 24)")
    parser.add_argument("--concurrency", type=int, default=4, help="uploads in flight (default 4)")
    parser.add_argument("--log", type=Path, default=LOG_FILE, help=f"where the handlers' logs go (default {LOG_FILE})")
    args = parser.parse_args(argv)
    console = sys.stdout
    with handler_output_to(args.log):
        return _demo(args, lambda *line: print(*line, file=console, flush=True))


@contextlib.contextmanager
def handler_output_to(path: Path) -> Iterator[None]:
    """What the functions' instances print (their logs, metrics and warnings, written to the stack process's stdout
    as to Lambda's log) to a file instead, with the local stack's own warnings (a failed attempt it retries: `make
    soak` injects about 500), between the handler lines of the invocations they are about."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stack_log = logging.getLogger("devstack")
    with path.open("w") as log, contextlib.redirect_stdout(log):
        to_file = logging.StreamHandler(log)
        to_file.setFormatter(logging.Formatter(LOG_FORMAT))
        stack_log.addHandler(to_file)
        try:
            yield
        finally:
            stack_log.removeHandler(to_file)


def _demo(args: argparse.Namespace, say: Callable[..., None]) -> int:
    # A private state directory: a `make dev` stack running beside keeps its endpoints file.
    with tempfile.TemporaryDirectory() as tmp, DevStack(state_dir=Path(tmp) / "state") as stack:
        say(f"local stack up: API {stack.api_url} (handler logs: {args.log})")
        failed = False
        for mode in contract.CAPTURE_MODES:  # a session of each
            say()
            outcome = _session(stack, mode, Path(tmp) / mode, args, say)
            failed |= outcome is None
            if outcome is None:
                continue
            status, frame_counts, upload_failed = outcome
            say()
            say(status_table(status))
            say()
            for event in session_ready_events(stack, status["sessionId"]):
                say("SessionReady on the processing bus:")
                say(json.dumps(event, indent=2))
                say()
            problems = check(stack, status, args.windows, frame_counts)
            for problem in problems:
                say(f"FAIL ({mode}): {problem}")
            failed |= bool(problems) or upload_failed
            if not problems and not upload_failed:
                frames = " with its frame count" if frame_counts else ""
                say(f"OK ({mode}): all {args.windows} windows recorded and ingested exactly once{frames}; the session "
                    "is ready, SessionReady fired once")
    return 1 if failed else 0


def _session(
    stack: DevStack, mode: str, windows: Path, args: argparse.Namespace, say: Callable[..., None]
) -> tuple[dict, dict[int, int] | None, bool] | None:
    """One session of `mode` through the client: (its final status, each window's frame count, whether an upload
    failed), or None when the API refused something."""
    windows.mkdir()
    write_windows(windows, args.windows, args.seconds)
    frame_counts = write_bundles(windows, args.windows, args.frames) if mode == "audio_video" else None
    with UploadClient(stack.api_url, stack.token(user="demo")) as client:
        try:
            session = client.create_session(mode)["sessionId"]
            halves = "windows" if frame_counts is None else "windows (audio and frames)"
            say(f"{mode} session {session}: uploading {args.windows} {halves} of {args.seconds:g} s")
            bar = ProgressBar(f"{args.windows} windows")
            try:
                result = client.upload_dir(
                    session, windows, concurrency=args.concurrency, progress=bar, halves=bar.half
                )
            finally:
                bar.close()
            for error in result.failed.values():
                say(f"error: {error}")
            stack.wait_idle()  # the S3 events and the ingest invocations they cause
            completed = client.complete(session, args.windows)
            say(f"complete: {args.windows} windows expected, the session is {completed['status']}")
            wait_for_session_ready(stack, session)
            stack.wait_idle()
            return client.status(session), frame_counts, not result.ok
        except ClientError as exc:
            say(f"error: {exc}")
            return None


if __name__ == "__main__":
    sys.exit(main())
