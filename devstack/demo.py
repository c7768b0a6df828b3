"""`make demo`: start the local stack, upload a session's windows with the client, complete it, and check that each
window was ingested once and the session's SessionReady event fired once."""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import math
import sys
import tempfile
import time
import warnings
import wave
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from client import ClientError, UploadClient, window_filename
from client.progress import ProgressBar
from client.report import status_table
from devstack.stack import LocalStack
from handlers import layout

LOG_FILE = Path(".devstack") / "demo.log"
SESSION_READY_WAIT_SECONDS = 10
SAMPLE_RATE = 16_000  # 16 kHz, 16-bit mono: about 2 MB per 60 s window, as the app records


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


def session_ready_events(stack: LocalStack, session_id: str) -> list[dict]:
    return [detail for detail in stack.session_ready_events() if detail["sessionId"] == session_id]


def wait_for_session_ready(stack: LocalStack, session_id: str, timeout: float = SESSION_READY_WAIT_SECONDS) -> None:
    """Until the processing bus delivered the session's SessionReady event, or the timeout passed."""
    deadline = time.monotonic() + timeout
    while not session_ready_events(stack, session_id) and time.monotonic() < deadline:
        time.sleep(0.1)


def check(stack: LocalStack, status: dict, count: int) -> list[str]:
    """Every way the session falls short of "every window recorded and ingested exactly once, and one SessionReady
    event naming every window"."""
    expected = list(range(count))
    problems = [] if status["status"] == "ready" else [f"session is {status['status']}, not ready"]
    if status["recordedWindows"] != [[0, count - 1]]:
        problems.append(f"recorded windows are {status['recordedWindows']}, expected [[0, {count - 1}]]")
    counts = stack.ingest_counts(status["sessionId"])
    if counts != {w: 1 for w in expected}:
        wrong = {w: counts.get(w, 0) for w in expected if counts.get(w, 0) != 1}
        problems.append(f"ingest invocations per window not all 1: {wrong or counts}")
    if dead := stack.dlq_messages():
        problems.append(f"{len(dead)} event(s) in the DLQ")
    events = session_ready_events(stack, status["sessionId"])
    if len(events) != 1:
        problems.append(f"{len(events)} SessionReady events for the session, expected exactly 1")
    elif (events[0].get("windowCount"), events[0].get("windows")) != (count, [[0, count - 1]]) or [
        events[0]["keyTemplates"]["audio"].format(windowIndex=w) for w in expected
    ] != [layout.audio_key(status["sessionId"], w) for w in expected]:
        problems.append(f"the SessionReady event {events[0]} does not name the {count} windows")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__)
    parser.add_argument("--windows", type=int, default=12, help="how many windows to record (default 12)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of audio per window (default 1)")
    parser.add_argument("--concurrency", type=int, default=4, help="uploads in flight (default 4)")
    parser.add_argument("--log", type=Path, default=LOG_FILE, help=f"where the handlers' logs go (default {LOG_FILE})")
    args = parser.parse_args(argv)
    console = sys.stdout
    with handler_output_to(args.log):
        return _demo(args, lambda *line: print(*line, file=console, flush=True))


@contextlib.contextmanager
def handler_output_to(path: Path) -> Iterator[None]:
    """The in-process handlers log and print metrics to stdout, as in Lambda; send that to a file instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as log, contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools warns on stderr of every invocation that emits no metric
        yield


def _demo(args: argparse.Namespace, say: Callable[..., None]) -> int:
    # A private state directory: a `make dev` stack running beside keeps its endpoints file.
    with tempfile.TemporaryDirectory() as tmp, LocalStack(state_dir=Path(tmp) / "state") as stack:
        say(f"local stack up: API {stack.api_url} (handler logs: {args.log})")
        windows = Path(tmp) / "windows"
        windows.mkdir()
        with UploadClient(stack.api_url, stack.token(user="demo")) as client:
            try:
                session = client.create_session("audio_only")["sessionId"]
                say(f"session {session}: uploading {args.windows} windows of {args.seconds:g} s")
                write_windows(windows, args.windows, args.seconds)
                bar = ProgressBar(f"{args.windows} windows")
                try:
                    result = client.upload_dir(session, windows, concurrency=args.concurrency, progress=bar)
                finally:
                    bar.close()
                for error in result.failed.values():
                    say(f"error: {error}")
                stack.wait_idle()  # the S3 events and the ingest invocations they cause
                completed = client.complete(session, args.windows)
                say(f"complete: {args.windows} windows expected, the session is {completed['status']}")
                wait_for_session_ready(stack, session)
                stack.wait_idle()
                status = client.status(session)
            except ClientError as exc:
                say(f"error: {exc}")
                return 1
        say()
        say(status_table(status))
        say()
        for event in session_ready_events(stack, session):
            say("SessionReady on the processing bus:")
            say(json.dumps(event, indent=2))
            say()
        problems = check(stack, status, args.windows)
    for problem in problems:
        say(f"FAIL: {problem}")
    if problems or result.failed:
        return 1
    say(f"OK: all {args.windows} windows recorded and ingested exactly once; the session is ready, SessionReady fired once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
