"""`python -m bench.load`: sessions uploading concurrently through the local stack, duplicate, dropped S3 events and
failing ingest invokes injected at random; the DLQ redriven with the operator tool, the sessions completed and swept
(the sweeper heals the dropped events); counts what was lost, ingested twice or dead-lettered. Its defaults are
`make soak`: 10,000 windows."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import machine
from client import UploadClient
from client.report import windows_in
from devstack.demo import handler_output_to, write_windows
from devstack.stack import DevStack
from devstack.tokens import ENDPOINTS_FILE
from ops import dlq
from ops.stack import Stack
from ops.target import COMPLETION, from_local

INJECTED_MARK = "failure injected by devstack faults"  # in the message of every fault the stack injects
RETRY_DELAYS = (0.2, 0.4)  # Lambda's async retries, shortened: a duplicate that finds its twin's claim live (on
CLAIM_LEASE_SECONDS = 2  # another instance) is retried after them; the lease, longer, only covers crashes
FINALIZING_TIMEOUT_SECONDS = 1  # the sweeper heals and judges sessions this long after complete
MAX_SWEEPS = 5  # a sweep that runs short of time leaves sessions for the next one
LOG_FILE = Path(".devstack") / "load.log"


@dataclass
class LoadFigures:
    sessions: int
    windows_per_session: int
    duplicate_rate: float
    invoke_failure_rate: float
    seed: int
    drop_rate: float = 0.0
    windows_uploaded: int = 0
    upload_failures: int = 0
    duplicates_injected: int = 0
    drops_injected: int = 0
    invoke_faults_injected: int = 0
    dead_lettered: int = 0  # events whose three attempts all failed
    dead_lettered_unexpected: int = 0  # ... for a reason other than an injected fault
    redriven: int = 0
    windows_healed: int = 0  # by the sweeper, from the bucket's listing
    lost: int = 0  # windows not recorded, or never ingested, once the DLQ was redriven and the sessions swept
    double_ingested: int = 0  # windows ingested more than once
    sessions_ready: int = 0
    session_ready_events: int = 0
    upload_seconds: float = 0.0
    seconds: float = 0.0  # until every event was handled
    redrive_seconds: float = 0.0
    sweep_seconds: float = 0.0  # the sessions completed, their timeout waited for, then swept
    check_seconds: float = 0.0
    machine_cpu: machine.CpuTimes | None = None  # what the machine gave the whole run (set by main)
    problems: list[str] = field(default_factory=list)

    @property
    def windows(self) -> int:
        return self.sessions * self.windows_per_session

    @property
    def total_seconds(self) -> float:
        return self.seconds + self.redrive_seconds + self.sweep_seconds + self.check_seconds

    def table(self) -> str:
        rows = [
            ("sessions x windows", f"{self.sessions} x {self.windows_per_session} = {self.windows}"),
            ("windows uploaded (client)", self.windows_uploaded),
            (f"duplicate S3 events injected ({self.duplicate_rate:.0%})", self.duplicates_injected),
            (f"S3 events dropped ({self.drop_rate:.0%})", self.drops_injected),
            (f"ingest invokes failed ({self.invoke_failure_rate:.0%})", self.invoke_faults_injected),
            ("events dead-lettered (3 attempts failed)", self.dead_lettered),
            ("  of which not caused by an injected fault", self.dead_lettered_unexpected),
            ("events redriven (ops dlq redrive)", self.redriven),
            ("windows healed by the sweeper", self.windows_healed),
            ("windows lost", self.lost),
            ("windows ingested more than once", self.double_ingested),
            ("sessions ready after complete", f"{self.sessions_ready} of {self.sessions}"),
            ("SessionReady events", self.session_ready_events),
            ("wall time: uploads done", f"{self.upload_seconds:.1f} s"),
            ("wall time: every event handled", f"{self.seconds:.1f} s ({self.windows / self.seconds:.1f} windows/s)"),
            ("  then: the DLQ redriven", f"{self.redrive_seconds:.1f} s"),
            ("  then: completed, timed out and swept", f"{self.sweep_seconds:.1f} s"),
            ("  then: every window counted", f"{self.check_seconds:.1f} s"),
            ("wall time in all", f"{self.total_seconds:.1f} s"),
        ]
        if self.machine_cpu is not None:
            rows.append(("machine, over the run", self.machine_cpu.describe()))
        return "\n".join(f"{name:<44} {value}" for name, value in rows)


def run_load(
    stack: DevStack,
    windows_dir: Path,
    *,
    sessions: int,
    windows: int,
    parallel_sessions: int = 2,
    concurrency: int = 4,
    duplicate_rate: float = 0.10,
    invoke_failure_rate: float = 0.05,
    drop_rate: float = 0.05,
    seed: int = 7,
) -> LoadFigures:
    """Upload `sessions` sessions of `windows` windows (the window_NNN.wav files in `windows_dir`) with faults on;
    then redrive the DLQ as an operator would, complete every session, let the sweeper heal the dropped events once
    the stack's finalizing timeout has passed, and count."""
    figures = LoadFigures(sessions, windows, duplicate_rate, invoke_failure_rate, seed, drop_rate)
    stack.faults.at_random("duplicate_event", duplicate_rate, seed)
    stack.faults.at_random("ingest_invoke", invoke_failure_rate, seed + 1)
    stack.faults.at_random("drop_event", drop_rate, seed + 2)
    users = [f"load-{n}" for n in range(sessions)]

    def upload(user: str) -> tuple[str, str, int, int]:
        with UploadClient(stack.api_url, stack.token(user=user)) as client:
            session_id = client.create_session("audio_only")["sessionId"]
            result = client.upload_dir(session_id, windows_dir, concurrency=concurrency)
        return user, session_id, len(result.uploaded), len(result.failed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel_sessions) as pool:
        uploaded = list(pool.map(upload, users))
    figures.upload_seconds = time.perf_counter() - started
    # The completion function runs a few invocations at once (DevStack.function_concurrency): the rest queue.
    stack.wait_idle(timeout=max(120.0, float(sessions * windows)))
    figures.seconds = time.perf_counter() - started
    figures.windows_uploaded = sum(n for _, _, n, _ in uploaded)
    figures.upload_failures = sum(n for _, _, _, n in uploaded)
    figures.duplicates_injected = stack.faults.injected("duplicate_event")
    figures.drops_injected = stack.faults.injected("drop_event")
    figures.invoke_faults_injected = stack.faults.injected("ingest_invoke")
    stack.faults.reset()  # the outage is over before the operator redrives

    phase = time.perf_counter()
    dead = stack.dlq_messages()
    figures.dead_lettered = len(dead)
    figures.dead_lettered_unexpected = sum(INJECTED_MARK not in json.dumps(r["responsePayload"]) for r in dead)
    figures.redriven = redrive(stack, figures)
    stack.wait_idle(timeout=60)
    figures.redrive_seconds, phase = time.perf_counter() - phase, time.perf_counter()

    for user, session_id, _, _ in uploaded:
        with UploadClient(stack.api_url, stack.token(user=user)) as client:
            client.complete(session_id, windows)
    completed_at = time.monotonic()  # the last session's timeout runs from here
    stack.wait_idle(timeout=60)
    time.sleep(max(0.0, completed_at + stack.finalizing_timeout_seconds + 0.2 - time.monotonic()))
    figures.windows_healed = sweep(stack, figures)
    stack.wait_idle(timeout=60)
    figures.sweep_seconds, phase = time.perf_counter() - phase, time.perf_counter()

    for user, session_id, _, _ in uploaded:
        check_session(stack, figures, user, session_id, windows)
    ready = [e for e in stack.session_ready_events() if e["sessionId"] in {s for _, s, _, _ in uploaded}]
    figures.session_ready_events = len(ready)
    figures.check_seconds = time.perf_counter() - phase
    return figures


def redrive(stack: DevStack, figures: LoadFigures) -> int:
    """The completion DLQ redriven as an operator does (`python -m ops dlq redrive`): how many records were replayed."""
    operator = Stack(from_local(stack.state_dir / ENDPOINTS_FILE))
    report = dlq.redrive(operator, COMPLETION, dry_run=False)
    figures.problems += [f"redrive failed: {entry['keys']}: {entry['error']}" for entry in report.failed]
    return len(report.replayed)


def sweep(stack: DevStack, figures: LoadFigures) -> int:
    """Sweep as the schedule would, again while a sweep leaves sessions for the next; the windows it healed."""
    healed = 0
    for _ in range(MAX_SWEEPS):
        report = stack.sweep()
        healed += sum(last - first + 1 for ranges in report["healed"].values() for first, last in ranges)
        figures.problems += [f"session {session_id}: not swept" for session_id in report["failed"]]
        if not report["deferred"]:
            break
    return healed


def check_session(stack: DevStack, figures: LoadFigures, user: str, session_id: str, windows: int) -> None:
    """Count the session's lost and doubly ingested windows, and whether it is ready."""
    expected = set(range(windows))
    counts = stack.ingest_counts(session_id)
    with UploadClient(stack.api_url, stack.token(user=user)) as client:
        status = client.status(session_id)
    recorded = set(windows_in(status["recordedWindows"])) & set(windows_in(status["ingestedWindows"]))
    lost = sorted(w for w in expected if w not in recorded or counts.get(w, 0) == 0)
    double = sorted(w for w, n in counts.items() if n > 1)
    figures.lost += len(lost)
    figures.double_ingested += len(double)
    if lost or double:
        figures.problems.append(f"session {session_id}: lost {lost}, ingested more than once {double}")
    if status["status"] == "ready":
        figures.sessions_ready += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    # The defaults are `make soak`: the 10,000 windows of the reliability goal, in at most 10 minutes on 2 cores.
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--windows", type=int, default=100, help="windows per session")
    parser.add_argument("--parallel-sessions", type=int, default=4, help="sessions uploading at once")
    parser.add_argument("--concurrency", type=int, default=4, help="uploads in flight per session")
    parser.add_argument("--duplicate-rate", type=float, default=0.10)
    parser.add_argument("--invoke-failure-rate", type=float, default=0.05)
    parser.add_argument("--drop-rate", type=float, default=0.05, help="S3 events lost, healed by the sweeper")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as directory,
        tempfile.TemporaryDirectory() as state,
        handler_output_to(LOG_FILE),
        DevStack(retry_delays=RETRY_DELAYS, claim_lease_seconds=CLAIM_LEASE_SECONDS,
                   finalizing_timeout_seconds=FINALIZING_TIMEOUT_SECONDS, state_dir=state) as stack,
    ):
        write_windows(Path(directory), args.windows, seconds=0.05)
        started = machine.cpu_times()
        figures = run_load(
            stack,
            Path(directory),
            sessions=args.sessions,
            windows=args.windows,
            parallel_sessions=args.parallel_sessions,
            concurrency=args.concurrency,
            duplicate_rate=args.duplicate_rate,
            invoke_failure_rate=args.invoke_failure_rate,
            drop_rate=args.drop_rate,
            seed=args.seed,
        )
        figures.machine_cpu = machine.since(started)
    print(f"Load through the local stack (handler logs in {LOG_FILE})")
    print(figures.table())
    for problem in figures.problems:
        print("PROBLEM:", problem)
    if args.json:
        args.json.write_text(json.dumps({**asdict(figures), "windows": figures.windows}, indent=2) + "\n")
    failed = (figures.lost or figures.double_ingested or figures.dead_lettered_unexpected or figures.upload_failures
              or figures.problems or figures.windows_healed != figures.drops_injected)
    return 1 if failed or figures.sessions_ready != figures.sessions else 0


if __name__ == "__main__":
    raise SystemExit(main())
