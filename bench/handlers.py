"""Handler figures in one run against moto server: cold starts, warm grant latency, completion events per second."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import boto3

from handlers import contract, layout

REGION = "eu-west-1"
BUCKET = "bench-bucket"
TABLE = "bench-sessions"
COLD_RUNS = 7
WARM_GRANTS = 400
COMPLETION_EVENTS = 300


def handler_env(endpoint: str) -> dict[str, str]:
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


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


# --- the child: one cold start, measured from inside a fresh interpreter -----------------------------------------


def _child(kind: str, session_id: str, window: int) -> None:
    started = time.perf_counter()
    if kind == "bare boto3.client('s3')":
        import boto3 as cold_boto3  # noqa: PLC0415

        cold_boto3.client("s3")
        imported = time.perf_counter()
    elif kind == "api (POST /sessions)":
        from devstack.apigw import http_api_event  # noqa: PLC0415
        from handlers.api import app  # noqa: PLC0415

        imported = time.perf_counter()
        event = http_api_event("POST", "/sessions", body='{"captureMode":"audio_only"}', claims={"sub": "bench"})
        assert app.lambda_handler(event, Context())["statusCode"] == 201
    elif kind == "upload_complete (1 record)":
        from handlers.upload_complete import app  # noqa: PLC0415

        imported = time.perf_counter()
        # Built inline: devstack.s3events would import devstack (and boto3) before the clock, hiding cold start.
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": BUCKET},
                "object": {"key": layout.audio_key(session_id, window), "size": 2048, "eTag": "e"},
            },
        }
        assert app.lambda_handler({"Records": [record]}, Context()) == {"handled": 1}
    elif kind == "ingest (1 request)":
        from handlers.ingest import app  # noqa: PLC0415

        imported = time.perf_counter()
        app.lambda_handler(
            {"sessionId": session_id, "userId": "bench", "windowIndex": window, "frameCount": 0}, Context()
        )
    else:
        raise SystemExit(f"unknown kind {kind}")
    done = time.perf_counter()
    print(json.dumps({"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000}))


# --- the parent ---------------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    from devstack import (
        provision,  # noqa: PLC0415
        s3events,  # noqa: PLC0415
    )
    from devstack.servers import MotoServer  # noqa: PLC0415

    server = MotoServer()
    server.start()
    env = handler_env(server.url)
    os.environ.update(env)
    try:
        provision.create_bucket(boto3.client("s3", region_name=REGION), BUCKET, REGION)
        provision.create_sessions_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        from devstack.apigw import http_api_event  # noqa: PLC0415
        from handlers.api import app as api  # noqa: PLC0415
        from handlers.upload_complete import app as complete  # noqa: PLC0415

        def create(mode: str) -> str:
            event = http_api_event("POST", "/sessions", body=json.dumps({"captureMode": mode}), claims={"sub": "bench"})
            return json.loads(api.lambda_handler(event, Context())["body"])["sessionId"]

        rows = []
        # audio_video: the completion cold start records the window and waits for frames (no ingest invoke).
        cold_session = create("audio_video")
        kinds = ["bare boto3.client('s3')", "api (POST /sessions)", "upload_complete (1 record)", "ingest (1 request)"]
        for kind in kinds:
            imports, totals = [], []
            for run in range(COLD_RUNS):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.handlers", "--child", kind, cold_session, str(run)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                imports.append(figures["import_ms"])
                totals.append(figures["total_ms"])
            rows.append((f"cold start: {kind}", statistics.median(imports), statistics.median(totals)))

        session = create("audio_only")
        latencies = []
        for i in range(WARM_GRANTS):
            event = http_api_event(
                "POST",
                f"/sessions/{session}/audio",
                query={"windowIndex": str(i % 1000)},
                body='{"sizeBytes": 2000000}',
                claims={"sub": "bench"},
            )
            started = time.perf_counter()
            assert api.lambda_handler(event, Context())["statusCode"] == 200
            latencies.append((time.perf_counter() - started) * 1000)

        class AcceptingLambda:  # the ingest Invoke answered 202 at once: what is measured is the table path
            def invoke(self, **_: object) -> dict:
                return {"StatusCode": 202}

        complete.ingest._client = AcceptingLambda()
        session = create("audio_only")
        events = [
            s3events.notification(s3events.notification_record(BUCKET, layout.audio_key(session, w), size=2048))
            for w in range(COMPLETION_EVENTS)
        ]
        started = time.perf_counter()
        for event in events:
            complete.lambda_handler(event, Context())
        rate = COMPLETION_EVENTS / (time.perf_counter() - started)
    finally:
        server.stop()

    print(
        f"\nHandler figures ({sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, moto server on 127.0.0.1)"
    )
    print(f"{'measure':<45} {'import ms':>10} {'total ms':>10}")
    for name, imported, total in rows:
        print(f"{name:<45} {imported:>10.0f} {total:>10.0f}")
    print(f"(cold start = fresh interpreter, import + first invocation, median of {COLD_RUNS})")
    print(
        f"warm grant latency over {WARM_GRANTS} grants: p50 {_percentile(latencies, 50):.2f} ms, "
        f"p99 {_percentile(latencies, 99):.2f} ms"
    )
    print(
        f"completion events per second (1 record each, record + claim + confirm, ingest accepted at once): "
        f"{rate:.0f} over {COMPLETION_EVENTS} events"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
