"""Handler cold starts in one run against moto server, beside a bare boto3 client (the warm figures are
bench/throughput.py's). `--baseline REF` measures REF's handlers (its tree exported from git) beside this tree's in
the same run, their samples interleaved so that the machine's load falls on both alike."""

from __future__ import annotations

import compileall
import importlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
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
# What the X-Ray SDK adds to every traced function's cold start before its first request: its import (with wrapt's,
# which imports asyncio) and botocore's patch, beside the bare client. The tracer's per-request work is the rest of
# the difference between a handler's cold start with tracing on and one with POWERTOOLS_TRACE_DISABLED (which
# imports the SDK all the same).
XRAY = "bare + X-Ray SDK (import, botocore patched)"
KINDS = {
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


def _without_bytecode() -> None:
    """Every module outside the standard library compiled from source, none read from or written to __pycache__:
    Lambda's runtime ships its standard library compiled, the layer and the code archive ship no .pyc, and /opt and
    /var/task are read-only, so each cold start compiles them."""
    import importlib._bootstrap_external as external  # noqa: PLC0415
    import sysconfig  # noqa: PLC0415

    stdlib = sysconfig.get_paths()["stdlib"]
    cached = external.cache_from_source

    def cache_from_source(path: str, *args: object, **kwargs: object) -> str:
        if not path.startswith(stdlib):
            raise NotImplementedError  # SourceLoader.get_code then compiles the source and writes nothing
        return cached(path, *args, **kwargs)

    external.cache_from_source = cache_from_source


def _child() -> None:
    sys.path.remove(str(Path(__file__).parent))  # run by path: bench/ first on the path would shadow `handlers`
    job = json.loads(sys.stdin.read())
    kind, event = job["kind"], job["event"]
    if not job["bytecode"]:
        _without_bytecode()
    started, cpu = time.perf_counter(), time.process_time()
    if kind in (BARE, XRAY):
        import boto3  # noqa: PLC0415

        boto3.client("s3")
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
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def cold_starts(
    trees: dict[str, Path], env: dict[str, str], jobs: dict[str, Callable[[int], tuple]], runs: int = COLD_RUNS
) -> list[tuple]:
    """Medians of each (tree, kind, bytecode) over `runs` rounds, a fresh interpreter per sample; the samples of one
    round run back to back, every tree and kind in turn, so the load of the moment falls on all of them."""
    for root in trees.values():
        # The .pyc rows read every module's bytecode, the handlers' too: compiled here, as pip compiled the packages'
        # when it installed them, whether or not the environment lets the children write any (PYTHONDONTWRITEBYTECODE,
        # which this machine's image sets: the handlers were then compiled from source in those rows as well).
        compileall.compile_dir(root / "handlers", quiet=1)
    samples: dict[tuple, list[dict]] = {}
    n = 0
    for _ in range(runs):
        for bytecode in (True, False):
            for kind, make in jobs.items():
                for label, root in trees.items() if kind not in (BARE, XRAY) else [("", PROJECT_DIR)]:
                    event, expect = make(n)
                    n += 1
                    job = json.dumps({"kind": kind, "event": event, "expect": expect, "bytecode": bytecode})
                    out = subprocess.run(
                        [sys.executable, __file__, "--child"],
                        input=job,
                        env={**env, "PYTHONPATH": str(root)},
                        cwd=root,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    samples.setdefault((label, kind, bytecode), []).append(
                        json.loads(out.stdout.strip().splitlines()[-1])
                    )
    rows = []
    for (label, kind, bytecode), got in samples.items():
        bare = samples[("", BARE, bytecode)]
        rows.append(
            (
                label,
                kind,
                bytecode,
                *(statistics.median(s[measure] for s in got) for measure in ("import_ms", "total_ms", "cpu_ms")),
                # Paired: each sample against the bare client's of its round, which ran beside it under the same load.
                statistics.median(s["total_ms"] / b["total_ms"] for s, b in zip(got, bare, strict=True)),
                statistics.median(s["cpu_ms"] / b["cpu_ms"] for s, b in zip(got, bare, strict=True)),
            )
        )
    return rows


def print_cold_starts(rows: list[tuple], runs: int = COLD_RUNS) -> None:
    print(f"{'cold start':<46} {'.pyc':>5} {'import ms':>10} {'total ms':>9} {'x bare':>7} {'CPU ms':>7} {'x bare':>7}")
    for label, kind, bytecode, imported, total, cpu, ratio, cpu_ratio in sorted(
        rows, key=lambda r: (not r[2], r[1] != BARE, r[1], r[0])
    ):
        name = f"{kind} [{label}]" if label else kind
        print(
            f"{name:<46} {'yes' if bytecode else 'no':>5} {imported:>10.0f} {total:>9.0f} {ratio:>7.2f} "
            f"{cpu:>7.0f} {cpu_ratio:>7.2f}"
        )
    print(
        f"(fresh interpreter per sample, nothing but the standard library imported before the clock: import + first "
        f"invocation, median of {runs}, in Lambda's environment: tracing on. .pyc no: every module outside the "
        f"standard library compiled from source, as from the layer on Lambda. x bare: median over the rounds of the "
        f"ratio to the bare client's sample of the same round. CPU ms: the process's CPU time over the same span, "
        f"less sensitive than wall time to a shared machine's load)"
    )


def main() -> None:
    import argparse  # noqa: PLC0415

    import boto3  # noqa: PLC0415

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
            XRAY: lambda _: (None, None),
            "api (POST /sessions)": lambda _: (create_event, 201),
            "upload_complete (1 record)": completion_job,
            "ingest (1 request)": lambda _: (ingest_event, None),
        }
        with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
            trees = {"this tree" if args.baseline else "": PROJECT_DIR}
            if args.baseline:
                trees = {args.baseline: _export(args.baseline, Path(tmp)), **trees}
            started = time.monotonic()
            rows = cold_starts(trees, {**env, **lambda_env(xray.getsockname()[1])}, jobs, args.runs)
            cold_wall = time.monotonic() - started
    finally:
        xray.close()
        server.stop()

    print(
        f"\nCold starts ({sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, {cold_wall:.0f} s)"
    )
    print_cold_starts(rows, args.runs)


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child()
    else:
        main()
