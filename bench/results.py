"""`python -m bench.results` (`make bench`): every bench in one run, written to docs/RESULTS.md with the command that
reproduces each figure and the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "RESULTS.md"
LOGS = ROOT / ".devstack" / "results"


@dataclass(frozen=True)
class Bench:
    title: str
    args: tuple[str, ...]  # after `python -m`
    tail: int | None = None  # keep only the last lines of the output
    note: str = ""


BENCHES = (
    Bench("Handlers: cold starts", ("bench.handlers",),
          note="Against moto server on 127.0.0.1. Cold start = a fresh interpreter importing the handler and serving "
               "its first request, in Lambda's environment (tracing on), beside a bare boto3 import and S3 client "
               "creation in the same run and setup, and beside the floor under the API's: an API with only the "
               "features issue 16 keeps (Powertools' logger, metrics, tracer and validating resolver, a pydantic "
               "body, one PutItem; bench/floor_api.py). Setups: this virtualenv with and without bytecode for what "
               "is not the standard library, and Python 3.12 (the runtime's) on the built layer, with the bytecode "
               "it ships and with its sources only."),
    Bench("Handlers: warm grant latency and completion events per second, beside the old system's",
          ("bench.throughput",),
          note="In-process against moto server on 127.0.0.1: the AWS calls cost a local round trip, not a regional "
               "one. Issue 10's targets: the grant's p50 at most 1.2 times one GetItem plus the presign; completion "
               "events per second at least 1.0 times the old system's completion handler (one UpdateItem ADD to a set "
               "on the session item returning ALL_NEW, a conditional ADD claim, the invoke) on the same moto in the "
               "same run, early and late in a session. Ours and the baseline alternate call by call."),
    Bench("Client throughput against the local limit", ("bench.upload",),
          note="The client's `upload_dir`, without (prefetch=0) and with its grant prefetch (several halves a "
               "`POST /sessions/{id}/grants`), against bare `requests.put` of the same bytes to presigned URLs "
               "through the local stack's presign gate: the local limit; and how fast the local API grants while "
               "those bare PUTs run. Each upload runs in a process of its own, as an app does; the fastest of 5."),
    Bench("Load: 10,000 windows with duplicate and dropped events and failing ingest invokes (`make soak`)",
          ("bench.load",),
          note="100 sessions of 100 windows, 4 sessions at a time with 4 uploads each in flight, through the local "
               "stack with the real client; 10 % of S3 events delivered twice, 5 % dropped and 5 % of ingest "
               "invokes failed, at random from a seeded RNG. Events dead-lettered after Lambda's two retries (three "
               "injected failures in a row) are redriven with the operator tool (`ops dlq redrive`); the sessions "
               "are then completed and swept once past their timeout, and the sweeper heals the dropped events "
               "before counting. `tests/reliability` runs the same scenario at 40 windows in every `make test`."),
    Bench("Cost of one 60-window session", ("bench.cost",),
          note="The session runs through the real handlers in-process under moto; every AWS call is counted (listed "
               "below the tables), DynamoDB units from the item's size before and after each write. Lambda durations "
               "are modelled from the counted calls with the assumed latencies named in bench/cost.py. prod sends "
               "ingest requests to an existing function (not this stack's bill) and keeps objects 30 days; dev "
               "keeps them 7. Fixed monthly costs (alarms, custom metrics, the sweeper's schedule) are not per "
               "session and are left out."),
    Bench("Local stack: start and stop", ("bench.stack",),
          note="A fresh local stack started and stopped in turn, as each e2e test module, `make demo` and `make dev` "
               "do (`make test` starts 15 in its pytest run and 2 in its TypeScript e2e)."),
    Bench("Offline preview (program under mocks + policy pack)", ("offline.preview", "--stack", "dev"), tail=3),
    Bench("Test suite", ("pytest", "-q", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadfile"), tail=1,
          note="The Python suite, as `make test` runs it (one worker per core and one more, a file's tests on one; "
               "tests/reliability included); `make test` runs the TypeScript client's suite beside it."),
)


def machine() -> str:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), None) if Path("/proc/meminfo").exists() else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return (f"{os.cpu_count()} cores, {int(memory) / 1024**2:.0f} GiB memory, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}; commit {commit.strip() or '?'}; "
            f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")


def run(bench: Bench) -> str:
    command = f"python -m {' '.join(bench.args)}"
    print(f"running {command} ...", file=sys.stderr, flush=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{bench.args[0]}-{'-'.join(bench.args[1:3]).strip('-') or 'run'}.stderr"
    started = time.perf_counter()
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", *bench.args], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                              text=True)
    seconds = time.perf_counter() - started
    # In-process handlers print their JSON logs and metrics to stdout, as in Lambda: the figures are the rest.
    lines = [line for line in done.stdout.rstrip().splitlines() if not line.startswith("{")]
    output = "\n".join(lines[-bench.tail:] if bench.tail else lines)
    status = "" if done.returncode == 0 else f" **(exit code {done.returncode}: see {log.relative_to(ROOT)})**"
    section = [f"## {bench.title}", "", f"`{command}` — {seconds:.1f} s wall{status}", ""]
    if bench.note:
        section += [bench.note, ""]
    return "\n".join([*section, "```", output, "```", ""])


def main() -> int:
    started = time.perf_counter()
    sections = [run(bench) for bench in BENCHES]
    header = [
        "# Results",
        "",
        "Generated by `make bench` (`python -m bench.results`); do not edit by hand. Each section names the command "
        "that reproduces it.",
        "",
        f"Machine: {machine()}. `make bench` took {time.perf_counter() - started:.0f} s.",
        "",
    ]
    RESULTS.write_text("\n".join(header + sections))
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
