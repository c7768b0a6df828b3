"""Handler cold starts in one run against moto server, beside a bare boto3 client and the floor under the API's (an
API with only the features kept: bench/floor_api.py); the warm figures are bench/throughput.py's. `--baseline REF`
measures REF's handlers (its tree exported from git) beside this tree's in the same run, their samples interleaved so
that the machine's load falls on both alike.

Each sample runs in one of the setups below: this virtualenv's interpreter with and without bytecode, and, when this
machine has the runtime's Python 3.12 (layer.runtime_python), that interpreter on the built layer and the code archive
as Lambda mounts them, once with the bytecode their builds ship and once with their sources only."""

from __future__ import annotations

import compileall
import importlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REGION = "eu-west-1"
BUCKET = "bench-bucket"
TABLE = "bench-sessions"
COLD_RUNS = 7
WARM_GRANTS = 400
PROJECT_DIR = Path(__file__).resolve().parent.parent
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

BARE = "bare boto3.client('s3')"
# The same, with the collector paused during the import and what it built frozen, as the handlers start
# (handlers/coldstart.py): what that alone takes off a cold start, beside what it takes off the handlers'.
BARE_PAUSED = "bare, collector paused as the handlers pause it"
# What the X-Ray SDK adds to every traced function's cold start before its first request: its import (with wrapt's,
# which imports asyncio) and botocore's patch, beside the bare client. The tracer's per-request work is the rest of
# the difference between a handler's cold start with tracing on and one with POWERTOOLS_TRACE_DISABLED (which
# imports the SDK all the same).
XRAY = "bare + X-Ray SDK (import, botocore patched)"
# The floor under the API's: the least an API does with what issue 16 keeps (logging, metrics, tracing, a resolver
# validating a pydantic body) and one PutItem, none of our code (bench/floor_api.py).
FLOOR = "floor: Powertools API, validated, 1 PutItem"
# Measured once a round, from this tree, beside the handlers of each tree measured.
BESIDE = (BARE, BARE_PAUSED, XRAY, FLOOR)
KINDS = {
    FLOOR: "bench.floor_api",
    "api (POST /sessions)": "handlers.api.app",
    "upload_complete (1 record)": "handlers.upload_complete.app",
    "ingest (1 request)": "handlers.ingest.app",
}


def handler_env(endpoint: str) -> dict[str, str]:
    from handlers import contract  # noqa: PLC0415

    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": contract.METRICS_NAMESPACE,
        contract.ENV_BUCKET_NAME: BUCKET,
        contract.ENV_SESSIONS_TABLE_NAME: TABLE,
        contract.ENV_INGEST_FUNCTION_NAME: "bench-ingest",
        contract.ENV_PROCESSING_EVENT_BUS_NAME: "default",
    }


def lambda_env(xray_port: int) -> dict[str, str]:
    """What Lambda sets, so that Powertools and the X-Ray SDK do at a cold start what they do there: tracing on,
    botocore patched, no centralized sampler (outside Lambda the SDK builds two X-Ray clients at import instead)."""
    return {
        "LAMBDA_TASK_ROOT": str(PROJECT_DIR),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


# --- the child: one cold start, measured from inside a fresh interpreter -----------------------------------------
# The child imports nothing but the standard library before its clock starts (this file is run by path, so none of
# the parent's imports run in it): the event is built by the parent and read from stdin before the clock.


def _bytecode_only_under(folders: list[str]) -> None:
    """Every module outside the standard library and `folders` compiled from source, none read from or written to
    __pycache__: Lambda's runtime ships its standard library compiled, and /opt and /var/task are read-only, so each
    cold start compiles whatever the layer and the code archive ship no bytecode for."""
    import importlib._bootstrap_external as external  # noqa: PLC0415
    import sysconfig  # noqa: PLC0415

    compiled = (sysconfig.get_paths()["stdlib"], *folders)
    cached = external.cache_from_source

    def cache_from_source(path: str, *args: object, **kwargs: object) -> str:
        if not path.startswith(compiled):
            raise NotImplementedError  # SourceLoader.get_code then compiles the source and writes nothing
        return cached(path, *args, **kwargs)

    external.cache_from_source = cache_from_source


def _child() -> None:
    here = str(Path(__file__).parent)
    if here in sys.path:  # run by path: bench/ first on the path would shadow `handlers` (not there with -I)
        sys.path.remove(here)
    job = json.loads(sys.stdin.read())
    kind, event = job["kind"], job["event"]
    # Lambda's /var/task and /opt are read-only: a cold start writes no bytecode for the next one to read (-I, which
    # the 3.12 setups run with, ignores PYTHONDONTWRITEBYTECODE).
    sys.dont_write_bytecode = True
    sys.path[:0] = job["path"]
    if job["bytecode_under"] is not None:
        _bytecode_only_under(job["bytecode_under"])
    started, cpu = time.perf_counter(), time.process_time()
    if kind in (BARE, BARE_PAUSED, XRAY):
        if kind == BARE_PAUSED:
            import gc  # noqa: PLC0415

            gc.disable()
        import boto3  # noqa: PLC0415

        boto3.client("s3")
        if kind == BARE_PAUSED:
            from handlers import coldstart  # noqa: PLC0415

            coldstart.imported()
        if kind == XRAY:
            from aws_xray_sdk.core import patch  # noqa: PLC0415

            patch(["botocore"])
        imported = time.perf_counter()
    else:
        app = importlib.import_module(KINDS[kind])
        imported = time.perf_counter()
        response = app.lambda_handler(event, Context())
        assert job["expect"] is None or job["expect"] == (
            response["statusCode"] if "statusCode" in response else response
        ), response
    done, cpu = time.perf_counter(), time.process_time() - cpu
    print(
        json.dumps(
            {"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000, "cpu_ms": cpu * 1000}
        )
    )


# --- the parent ---------------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _export(ref: str, into: Path) -> Path:
    """REF's tree, as git holds it, in a folder of its own: the baseline's handlers."""
    archive = subprocess.run(["git", "-C", str(PROJECT_DIR), "archive", ref], capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


@dataclass(frozen=True)
class Setup:
    """Where a sample's interpreter runs and which modules it may read bytecode for."""

    label: str
    python: list[str]  # the command that runs this file
    site: Path | None = None  # the layer's python/ folder, after the handlers on the path (Lambda's /opt/python)
    bytecode_under: tuple[str, ...] | None = None  # beyond the standard library; None: every module's
    note: str = ""
    archived: bool = False  # the handlers as the code archive ships them (Lambda's /var/task), its bytecode read

    def job(self, root: Path, task: Path) -> dict:
        """`root`: the tree measured; `task`: its code archive extracted (`extract_code`)."""
        bytecode_under = self.bytecode_under
        if self.archived and bytecode_under is not None:
            bytecode_under = (*bytecode_under, str(task))
        return {"path": [*([str(task)] if self.archived else []), str(root), str(self.site)] if self.site else [],
                "bytecode_under": None if bytecode_under is None else list(bytecode_under)}


def extract_code(root: Path, into: Path) -> Path:
    """The code archive of `root`'s handlers, extracted into `into` as Lambda extracts it into /var/task
    (components/code.py). A tree from before components/code.py (a --baseline) shipped its sources only."""
    from components import code  # noqa: PLC0415

    if (root / "components" / "code.py").is_file():
        return code.extract(root / "handlers", into)
    shutil.copytree(root / "handlers", into / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    return into


VENV = Setup(".pyc", [sys.executable], note="this virtualenv, every module read from its bytecode (the handlers' "
             "compiled first)")
VENV_SOURCES = Setup("no .pyc", [sys.executable], bytecode_under=(),
                     note="this virtualenv, every module outside the standard library compiled from source")


def layer_setups(python: str, site: Path) -> list[Setup]:
    """The runtime's interpreter on the built layer and the code archive, isolated (-I -S: no site-packages, nothing
    from the environment): both as built (their bytecode read), and their sources only (each module compiled, as
    before the layer and the code archive shipped bytecode)."""
    command = [python, "-I", "-S"]
    return [Setup("3.12 layer", command, site, (str(site),), archived=True,
                  note="Python 3.12 on the built layer and the code archive as Lambda mounts them: their bytecode "
                       "read"),
            Setup("3.12 src", command, site, (), archived=True,
                  note="the same, every module compiled from its source (a layer and a code archive without "
                       "bytecode)")]


def cold_starts(
    trees: dict[str, Path], env: dict[str, str], jobs: dict[str, Callable[[int], tuple]], setups: list[Setup],
    runs: int = COLD_RUNS, tasks: dict[str, Path] | None = None,
) -> list[tuple]:
    """Medians of each (tree, kind, setup) over `runs` rounds, a fresh interpreter per sample; the samples of one
    round run back to back, every setup, tree and kind in turn, so the load of the moment falls on all of them.
    `tasks`: each tree's code archive extracted (`extract_code`), for the setups that read it."""
    tasks = tasks or {}
    for root in trees.values():
        # The .pyc rows read every module's bytecode, the handlers' too: compiled here, as pip compiled the packages'
        # when it installed them, whether or not the environment lets the children write any (PYTHONDONTWRITEBYTECODE,
        # which this machine's image sets: the handlers were then compiled from source in those rows as well).
        compileall.compile_dir(root / "handlers", quiet=1)
    compileall.compile_file(PROJECT_DIR.joinpath(*KINDS[FLOOR].split(".")).with_suffix(".py"), quiet=1)
    samples: dict[tuple, list[dict]] = {}
    n = 0
    for _ in range(runs):
        for setup in setups:
            for kind, make in jobs.items():
                for label, root in trees.items() if kind not in BESIDE else [("", PROJECT_DIR)]:
                    event, expect = make(n)
                    n += 1
                    task = tasks.get(label if kind not in BESIDE else "", root)
                    job = json.dumps({"kind": kind, "event": event, "expect": expect, **setup.job(root, task)})
                    out = subprocess.run(
                        [*setup.python, __file__, "--child"],
                        input=job,
                        env={**env, "PYTHONPATH": str(root)},
                        cwd=root,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if out.returncode != 0:
                        raise RuntimeError(f"{kind} [{setup.label}] failed:\n{out.stderr[-3000:]}")
                    samples.setdefault((label, kind, setup.label), []).append(
                        json.loads(out.stdout.strip().splitlines()[-1])
                    )
    rows = []
    for (label, kind, setup), got in samples.items():
        bare = samples[("", BARE, setup)]
        rows.append(
            (
                label,
                kind,
                setup,
                *(statistics.median(s[measure] for s in got) for measure in ("import_ms", "total_ms", "cpu_ms")),
                # Paired: each sample against the bare client's of its round, which ran beside it under the same load.
                statistics.median(s["total_ms"] / b["total_ms"] for s, b in zip(got, bare, strict=True)),
                statistics.median(s["cpu_ms"] / b["cpu_ms"] for s, b in zip(got, bare, strict=True)),
            )
        )
    return rows


def print_cold_starts(rows: list[tuple], setups: list[Setup], runs: int = COLD_RUNS) -> None:
    order = [s.label for s in setups]
    print(f"{'cold start':<46} {'setup':>10} {'import ms':>10} {'total ms':>9} {'x bare':>7} {'CPU ms':>7} "
          f"{'x bare':>7}")
    for label, kind, setup, imported, total, cpu, ratio, cpu_ratio in sorted(
        rows, key=lambda r: (order.index(r[2]), r[1] != BARE, r[1], r[0])
    ):
        name = f"{kind} [{label}]" if label else kind
        print(
            f"{name:<46} {setup:>10} {imported:>10.0f} {total:>9.0f} {ratio:>7.2f} {cpu:>7.0f} {cpu_ratio:>7.2f}"
        )
    print(
        f"(fresh interpreter per sample, nothing but the standard library imported before the clock: import + first "
        f"invocation, median of {runs}, in Lambda's environment: tracing on. x bare: median over the rounds of the "
        f"ratio to the bare client's sample of the same round and setup. CPU ms: the process's CPU time over the same "
        f"span, less sensitive than wall time to a shared machine's load. Setups: "
        + "; ".join(f"{s.label}: {s.note}" for s in setups)
        + ")"
    )


def main() -> None:
    import argparse  # noqa: PLC0415

    import boto3  # noqa: PLC0415

    import layer  # noqa: PLC0415
    from devstack import (
        deploy,  # noqa: PLC0415
        s3events,  # noqa: PLC0415
        samples,  # noqa: PLC0415
    )
    from devstack.apigw import http_api_event  # noqa: PLC0415
    from devstack.servers import MotoServer  # noqa: PLC0415
    from handlers import layout  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m bench.handlers")
    parser.add_argument("--baseline", metavar="REF", help="also measure REF's handlers, in the same run")
    parser.add_argument("--runs", type=int, default=COLD_RUNS, metavar="N",
                        help=f"rounds, each sample's median taken over them (default {COLD_RUNS}; more on a busy machine)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    setups = [VENV, VENV_SOURCES]
    python = layer.runtime_python()
    work = tempfile.TemporaryDirectory(prefix="bench-layer-")
    if python is None:
        print(f"no Python {layer.PYTHON_VERSION_TEXT} on this machine ({layer.PYTHON_VARIABLE} names one): the built "
              f"layer's rows are left out", file=sys.stderr)
    else:
        with zipfile.ZipFile(layer.require_built().archive) as archive:
            archive.extractall(work.name)
        setups += layer_setups(python, Path(work.name) / layer.SITE_DIR_IN_ARCHIVE)

    server = MotoServer()
    server.start()
    env = handler_env(server.url)
    os.environ.update(env)
    # Where the X-Ray daemon would listen: the traced segments land here, unread.
    xray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    xray.bind(("127.0.0.1", 0))
    try:
        deploy.create_bucket(boto3.client("s3", region_name=REGION), BUCKET, REGION)
        deploy.create_sessions_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        from handlers.api import app as api  # noqa: PLC0415

        def create(mode: str) -> str:
            event = http_api_event("POST", "/sessions", body=json.dumps({"captureMode": mode}), claims={"sub": "bench"})
            return json.loads(api.lambda_handler(event, Context())["body"])["sessionId"]

        # audio_video: each completion cold start reads, validates and records a window of its own (a WAV in the
        # bucket) and waits for its frames (no ingest invoke).
        cold_session = create("audio_video")
        wav = samples.wav_bytes()
        s3 = boto3.client("s3", region_name=REGION)

        def completion_job(n: int) -> tuple:
            key = layout.audio_key(cold_session, n)
            s3.put_object(Bucket=BUCKET, Key=key, Body=wav)
            record = s3events.notification_record(BUCKET, key, size=len(wav))
            return s3events.notification(record), {"handled": 1}

        create_event = http_api_event("POST", "/sessions", body='{"captureMode":"audio_only"}', claims={"sub": "bench"})
        ingest_event = {"sessionId": cold_session, "userId": "bench", "windowIndex": 0, "frameCount": 0}
        jobs = {
            BARE: lambda _: (None, None),
            BARE_PAUSED: lambda _: (None, None),
            XRAY: lambda _: (None, None),
            FLOOR: lambda _: (create_event, 201),
            "api (POST /sessions)": lambda _: (create_event, 201),
            "upload_complete (1 record)": completion_job,
            "ingest (1 request)": lambda _: (ingest_event, None),
        }
        with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
            trees = {"this tree" if args.baseline else "": PROJECT_DIR}
            if args.baseline:
                trees = {args.baseline: _export(args.baseline, Path(tmp) / "tree"), **trees}
            # Each tree's handlers as its code archive ships them; the floor's and the bare rows' as this tree's.
            tasks = {label: extract_code(root, Path(tmp) / f"task-{n}") for n, (label, root) in enumerate(trees.items())}
            tasks.setdefault("", tasks["this tree" if args.baseline else ""])
            started = time.monotonic()
            rows = cold_starts(trees, {**env, **lambda_env(xray.getsockname()[1])}, jobs, setups, args.runs, tasks)
            cold_wall = time.monotonic() - started
    finally:
        xray.close()
        server.stop()
        work.cleanup()

    print(
        f"\nCold starts ({sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, {cold_wall:.0f} s)"
    )
    print_cold_starts(rows, setups, args.runs)


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child()
    else:
        main()
