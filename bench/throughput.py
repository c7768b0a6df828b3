"""Warm figures in one run against moto server (the cold starts are bench/handlers.py's): the grant's latency beside
a baseline of one GetItem plus the presign; completion events per second beside the old system's completion handler,
early and late in a session (the old handler's item grows with the session; ours should not)."""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench.handlers import BUCKET, REGION, TABLE, WARM_GRANTS, Context, handler_env
from handlers import contract, layout

ROUNDS = 3
SEGMENT = 300  # events timed at each point of a session
LATE = 1_000  # the second point: events 1,000 to 1,299, every event before it run for real
SEEDED = 9_700  # the third point: events 9,700 to 9,999, the tables seeded as events 0 to 9,699 leave them
GRANT_TARGET = 1.2  # ours / baseline p50, at most
RATE_TARGET = 1.0  # ours / baseline events per second, at least


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the baselines: what the old system did, on the same moto, in the same run --------------------------------------


class RecordingLambda:
    """The ingest function's Invoke API, answered 202 at once and recorded: what is measured is the table path."""

    def __init__(self) -> None:
        self.windows: Counter = Counter()  # (sessionId, windowIndex) -> invokes

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:  # noqa: N803 - boto3's names
        request = json.loads(Payload)
        self.windows[(request["sessionId"], request["windowIndex"])] += 1
        return {"StatusCode": 202}


class CallClock:
    """Time spent inside each DynamoDB call of one client, by operation: from botocore's before-call (the request
    serialized) to its after-call (the response parsed), so signing, the round trip to moto and moto's work."""

    def __init__(self, client: Any):
        self.seconds: Counter = Counter()
        self.calls: Counter = Counter()
        self._started = 0.0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        self.seconds[model.name] += time.perf_counter() - self._started
        self.calls[model.name] += 1

    def take(self) -> tuple[Counter, Counter]:
        taken = self.seconds, self.calls
        self.seconds, self.calls = Counter(), Counter()
        return taken


class OldCompletion:
    """The old system's completion path for an audio object, as the issue describes it: the window added to a number
    set on the one session item (the whole item returned), then a conditional claim in a second set, then the async
    invoke. Both writes refuse a session that does not exist, as ours do.

    It keeps fewer guarantees than ours: an invoke that fails after the claim loses the window's ingest for good (the
    retry finds it claimed), and every write returns and rewrites an item that grows with the session."""

    def __init__(self, table: Any, lambda_client: Any, function_name: str):
        self._table, self._lambda, self._function_name = table, lambda_client, function_name

    def record(self, session_id: str, window: int) -> str:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        key = {contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: "session"}
        try:
            item = self._table.update_item(
                Key=key,
                UpdateExpression="ADD completedAudioWindows :w",
                ConditionExpression="attribute_exists(sessionId)",
                ExpressionAttributeValues={":w": {window}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            if window in item.get("ingestTriggeredWindows", set()):
                return "already_triggered"
            self._table.update_item(
                Key=key,
                UpdateExpression="ADD ingestTriggeredWindows :w",
                ConditionExpression="attribute_exists(sessionId) AND NOT contains(ingestTriggeredWindows, :n)",
                ExpressionAttributeValues={":w": {window}, ":n": window},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return "already_triggered"
            raise
        request = {"sessionId": session_id, "userId": item["userId"], "windowIndex": window, "frameCount": 0}
        self._lambda.invoke(FunctionName=self._function_name, InvocationType="Event", Payload=json.dumps(request))
        return "ingest_triggered"


def old_completion_handler(old: OldCompletion) -> Callable[[dict, Any], dict]:
    """The baseline in the same Lambda shell as ours: Powertools' logger, metrics and tracer decorators, the same event
    parsing, one log line and one metric per record; only the table path differs."""
    from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: PLC0415
    from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

    from handlers.upload_complete.app import objects_created  # noqa: PLC0415

    logger, metrics, tracer = Logger(), Metrics(namespace=contract.METRICS_NAMESPACE), Tracer()

    @logger.inject_lambda_context
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict, context: object) -> dict:
        handled = 0
        for obj in objects_created(event):
            parsed = layout.parse_key(obj.key)
            outcome = old.record(parsed.session_id, parsed.window_index)
            handled += 1
            metrics.add_metric(name=contract.Metric.INGESTS_TRIGGERED, unit=MetricUnit.Count, value=1)
            logger.info("window handled", extra={"key": obj.key, "outcome": outcome})
        return {"handled": handled}

    return lambda_handler


def baseline_grant(table: Any, s3_client: Any, session_id: str, window: int) -> str:
    """One GetItem of the session (its owner and state checked), then the presign with the same parameters as ours."""
    item = table.get_item(
        Key={contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: "session"}, ConsistentRead=True
    )["Item"]
    assert item["userId"] == "bench" and item["status"] == "recording"
    params = {
        "Bucket": BUCKET,
        "Key": layout.audio_key(session_id, window),
        "ContentType": layout.Media.AUDIO.content_type,
        "ContentLength": 2_000_000,
        "IfNoneMatch": "*",
    }
    return s3_client.generate_presigned_url("put_object", Params=params, ExpiresIn=300)


# --- the parent ---------------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _timed(call: Callable[[int], Any], index: int) -> float:
    started = time.perf_counter()
    call(index)
    return time.perf_counter() - started


def _interleaved(ours: Callable[[int], Any], theirs: Callable[[int], Any], indexes: range) -> tuple[list, list]:
    """Each index run by both, alternating which goes first, so both see the same machine load."""
    mine, base = [], []
    for n, i in enumerate(indexes):
        if n % 2:
            base.append(_timed(theirs, i))
            mine.append(_timed(ours, i))
        else:
            mine.append(_timed(ours, i))
            base.append(_timed(theirs, i))
    return mine, base


@dataclass
class Rig:
    """The handlers and the baselines, wired to one moto server."""

    api: Any
    complete: Any
    old_handler: Callable[[dict, Any], dict]
    table: Any
    ours_lambda: RecordingLambda
    old_lambda: RecordingLambda
    ours_clock: CallClock
    old_clock: CallClock

    def create(self, mode: str = "audio_only") -> str:
        from devstack.apigw import http_api_event  # noqa: PLC0415

        event = http_api_event("POST", "/sessions", body=json.dumps({"captureMode": mode}), claims={"sub": "bench"})
        return json.loads(self.api.lambda_handler(event, Context())["body"])["sessionId"]

    def grant(self, session_id: str, window: int) -> None:
        from devstack.apigw import http_api_event  # noqa: PLC0415

        event = http_api_event(
            "POST",
            f"/sessions/{session_id}/audio",
            query={"windowIndex": str(window)},
            body='{"sizeBytes": 2000000}',
            claims={"sub": "bench"},
        )
        assert self.api.lambda_handler(event, Context())["statusCode"] == 200

    @staticmethod
    def upload(session_id: str, windows: range) -> None:
        """The windows' audio in the bucket, untimed: our handler reads and validates what S3 holds."""
        from devstack import samples  # noqa: PLC0415

        s3, wav = boto3.client("s3", region_name=REGION), samples.wav_bytes()
        for w in windows:
            s3.put_object(Bucket=BUCKET, Key=layout.audio_key(session_id, w), Body=wav)

    @staticmethod
    def event(session_id: str, window: int) -> dict:
        from devstack import s3events  # noqa: PLC0415

        return s3events.notification(s3events.notification_record(BUCKET, layout.audio_key(session_id, window),
                                                                   size=2048, etag="e"))

    def ours(self, session_id: str) -> Callable[[int], Any]:
        return lambda w: self.complete.lambda_handler(self.event(session_id, w), Context())

    def theirs(self, session_id: str) -> Callable[[int], Any]:
        return lambda w: self.old_handler(self.event(session_id, w), Context())

    def seed(self, ours_session: str, old_session: str, windows: int, template: dict) -> None:
        """Both tables as `windows` events would leave them: ours a window item each (copies of a real one, recorded
        and ingested) and the header's counter; the old one its two sets on the one item."""
        with self.table.batch_writer() as batch:
            for w in range(windows):
                item = dict(template, **{contract.TABLE_HASH_KEY: ours_session, "windowIndex": w})
                item[contract.TABLE_RANGE_KEY] = f"window#{w:05d}"
                batch.put_item(Item=item)
        header = {contract.TABLE_RANGE_KEY: "session"}
        self.table.update_item(Key={contract.TABLE_HASH_KEY: ours_session, **header},
                               UpdateExpression="SET recordedCount = :n", ExpressionAttributeValues={":n": windows})
        # Two values, not one named twice: moto 5.2.5 stores one value set from one placeholder in both attributes,
        # so an ADD to one set would change the other.
        self.table.update_item(Key={contract.TABLE_HASH_KEY: old_session, **header},
                               UpdateExpression="SET completedAudioWindows = :done, ingestTriggeredWindows = :claimed",
                               ExpressionAttributeValues={":done": set(range(windows)), ":claimed": set(range(windows))})

    def check(self, ours_session: str, old_session: str, windows: range) -> list[str]:
        """What each handler guarantees, checked after its events: a window ingested once, counted once."""
        problems = []
        for name, fake, sid in (("ours", self.ours_lambda, ours_session), ("baseline", self.old_lambda, old_session)):
            invoked = [fake.windows[(sid, w)] for w in windows]
            if invoked.count(1) != len(windows):
                problems.append(f"{name}: {len(windows) - invoked.count(1)} windows not ingested exactly once")
        header = self.table.get_item(Key={contract.TABLE_HASH_KEY: ours_session, contract.TABLE_RANGE_KEY: "session"},
                                     ConsistentRead=True)["Item"]
        if int(header["recordedCount"]) != windows.stop:
            problems.append(f"ours: header counts {header['recordedCount']} windows, not {windows.stop}")
        last = self.table.get_item(Key={contract.TABLE_HASH_KEY: ours_session,
                                        contract.TABLE_RANGE_KEY: f"window#{windows.stop - 1:05d}"})["Item"]
        if "ingestedAt" not in last or "claim" in last:
            problems.append("ours: the last window is not confirmed (ingestedAt set, claim dropped)")
        return problems


@dataclass
class Throughput:
    label: str
    ours: list[float] = field(default_factory=list)  # events/s per round
    theirs: list[float] = field(default_factory=list)
    ours_ms: list[float] = field(default_factory=list)  # median ms per event, per round
    theirs_ms: list[float] = field(default_factory=list)
    # Over every round: seconds of all events, and seconds and counts inside each DynamoDB operation.
    totals: dict[str, list] = field(default_factory=lambda: {"ours": [0.0, 0, Counter(), Counter()],
                                                             "baseline": [0.0, 0, Counter(), Counter()]})

    def add(self, mine: list[float], base: list[float], clocks: dict[str, tuple[Counter, Counter]]) -> None:
        self.ours.append(len(mine) / sum(mine))
        self.theirs.append(len(base) / sum(base))
        self.ours_ms.append(statistics.median(mine) * 1000)
        self.theirs_ms.append(statistics.median(base) * 1000)
        for name, times in (("ours", mine), ("baseline", base)):
            total = self.totals[name]
            total[0] += sum(times)
            total[1] += len(times)
            total[2] += clocks[name][0]
            total[3] += clocks[name][1]

    def where(self, name: str) -> str:
        """Mean ms per event inside each DynamoDB operation (calls per event), and the rest of the handler."""
        seconds, events, by_op, calls = self.totals[name]
        parts = [f"{op} {by_op[op] / events * 1000:.2f} ({calls[op] / events:.1f})" for op in sorted(by_op)]
        rest = (seconds - sum(by_op.values())) / events * 1000
        return f"{seconds / events * 1000:.2f} = " + " + ".join([*parts, f"rest {rest:.2f}"])

    @property
    def ratios(self) -> list[float]:
        return [o / t for o, t in zip(self.ours, self.theirs, strict=True)]


def _segment(rig: Rig, ours: Callable[[int], Any], theirs: Callable[[int], Any], indexes: range) -> tuple:
    rig.ours_clock.take(), rig.old_clock.take()
    mine, base = _interleaved(ours, theirs, indexes)
    return mine, base, {"ours": rig.ours_clock.take(), "baseline": rig.old_clock.take()}


def completion_round(rig: Rig, rows: dict[str, Throughput], seeded: bool, problems: list[str]) -> None:
    ours_sid, old_sid = rig.create(), rig.create()
    rig.upload(ours_sid, range(LATE + SEGMENT))
    ours, theirs = rig.ours(ours_sid), rig.theirs(old_sid)
    rows["early"].add(*_segment(rig, ours, theirs, range(SEGMENT)))
    _interleaved(ours, theirs, range(SEGMENT, LATE))  # run for real, not timed
    rows["late"].add(*_segment(rig, ours, theirs, range(LATE, LATE + SEGMENT)))
    problems += rig.check(ours_sid, old_sid, range(LATE + SEGMENT))
    if seeded:
        template = rig.table.get_item(Key={contract.TABLE_HASH_KEY: ours_sid, contract.TABLE_RANGE_KEY: "window#00000"},
                                      ConsistentRead=True)["Item"]
        ours_sid, old_sid = rig.create(), rig.create()
        rig.seed(ours_sid, old_sid, SEEDED, template)
        rig.upload(ours_sid, range(SEEDED, SEEDED + SEGMENT))
        rows["seeded"].add(*_segment(rig, rig.ours(ours_sid), rig.theirs(old_sid), range(SEEDED, SEEDED + SEGMENT)))
        problems += [p for p in rig.check(ours_sid, old_sid, range(SEEDED + SEGMENT))
                     if "not ingested exactly once" not in p]  # windows 0..SEEDED-1 were seeded, not invoked
        for name, fake, sid in (("ours", rig.ours_lambda, ours_sid), ("baseline", rig.old_lambda, old_sid)):
            if any(fake.windows[(sid, w)] != 1 for w in range(SEEDED, SEEDED + SEGMENT)):
                problems.append(f"{name} (seeded): a window not ingested exactly once")


def profile(rig: Rig, events: int, start: int = 0) -> str:
    """Where one handler's time goes, per handler: cProfile over `events` events of a fresh session each."""
    out = []
    for name, make in (("ours", rig.ours), ("baseline", rig.theirs)):
        sid = rig.create()
        rig.upload(sid, range(start + events))
        handle = make(sid)
        for w in range(start):
            handle(w)
        profiler = cProfile.Profile()
        profiler.enable()
        for w in range(start, start + events):
            handle(w)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        out.append(f"--- profile: {name}, events {start}-{start + events - 1}\n{text.getvalue()}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of the grant and completion measures")
    parser.add_argument("--no-seeded", action="store_true", help=f"skip the seeded point at {SEEDED:,} events")
    parser.add_argument("--profile", type=int, metavar="EVENTS", default=0,
                        help="also profile EVENTS completion events of each handler (from --profile-start)")
    parser.add_argument("--profile-start", type=int, default=0)
    args = parser.parse_args()

    from devstack import deploy  # noqa: PLC0415
    from devstack.servers import MotoServer  # noqa: PLC0415

    load_at_start = load()
    server = MotoServer()
    server.start()
    env = handler_env(server.url)
    os.environ.update(env)
    problems: list[str] = []
    try:
        deploy.create_bucket(boto3.client("s3", region_name=REGION), BUCKET, REGION)
        deploy.create_sessions_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        from handlers.api import app as api  # noqa: PLC0415
        from handlers.upload_complete import app as complete  # noqa: PLC0415

        table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
        ours_lambda, old_lambda = RecordingLambda(), RecordingLambda()
        complete.ingest._client = ours_lambda
        old_table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
        old = OldCompletion(old_table, old_lambda, "bench-ingest")
        rig = Rig(api, complete, old_completion_handler(old), table, ours_lambda, old_lambda,
                  CallClock(complete.store._table.meta.client), CallClock(old_table.meta.client))

        grant_p50s: dict[str, list[float]] = {"ours": [], "baseline": []}
        grant_p99s: dict[str, list[float]] = {"ours": [], "baseline": []}
        rates = {"early": Throughput(f"{0}-{SEGMENT - 1}"),
                 "late": Throughput(f"{LATE:,}-{LATE + SEGMENT - 1:,}"),
                 "seeded": Throughput(f"{SEEDED:,}-{SEEDED + SEGMENT - 1:,} (seeded)")}
        grant_clocks = {"ours": CallClock(api.store._table.meta.client), "baseline": CallClock(table.meta.client)}
        grant_where = {name: [0.0, Counter()] for name in grant_clocks}  # all grants' seconds; in GetItem
        for _ in range(args.rounds):
            session = rig.create()
            for clock in grant_clocks.values():
                clock.take()
            mine, base = _interleaved(functools.partial(rig.grant, session),
                                      functools.partial(baseline_grant, table, api.s3_client, session),
                                      range(WARM_GRANTS))
            for name, latencies in (("ours", mine), ("baseline", base)):
                grant_where[name][0] += sum(latencies)
                grant_where[name][1] += grant_clocks[name].take()[0]
            for name, latencies in (("ours", mine), ("baseline", base)):
                grant_p50s[name].append(_percentile([s * 1000 for s in latencies], 50))
                grant_p99s[name].append(_percentile([s * 1000 for s in latencies], 99))
            completion_round(rig, rates, not args.no_seeded, problems)
        profiled = profile(rig, args.profile, args.profile_start) if args.profile else ""
    finally:
        server.stop()

    print(f"\nHandler figures ({sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, moto server on "
          f"127.0.0.1); {load_at_start} at the start, {load()} at the end")
    def median(values: list[float]) -> float:
        return statistics.median(values)

    grant_ratio = median([o / b for o, b in zip(grant_p50s["ours"], grant_p50s["baseline"], strict=True)])
    print(f"\nWarm grant latency, {WARM_GRANTS} grants each per round, ours and the baseline alternating; "
          f"medians of {args.rounds} rounds (ms)")
    print(f"{'grant':<58} {'p50':>7} {'p99':>7}")
    print(f"{'ours: POST /sessions/{id}/audio through lambda_handler':<58} "
          f"{median(grant_p50s['ours']):>7.2f} {median(grant_p99s['ours']):>7.2f}")
    print(f"{'baseline: GetItem + generate_presigned_url':<58} "
          f"{median(grant_p50s['baseline']):>7.2f} {median(grant_p99s['baseline']):>7.2f}")
    grants = WARM_GRANTS * args.rounds
    for name, (seconds, by_op) in grant_where.items():
        print(f"  where the time goes, {name}: mean {seconds / grants * 1000:.2f} ms = "
              + " + ".join([f"{op} {by_op[op] / grants * 1000:.2f}" for op in sorted(by_op)]
                           + [f"the rest {(seconds - sum(by_op.values())) / grants * 1000:.2f}"]))
    print(f"ours/baseline p50: {grant_ratio:.2f} (per round: "
          + ", ".join(f"{o / b:.2f}" for o, b in zip(grant_p50s["ours"], grant_p50s["baseline"], strict=True))
          + f"); target <= {GRANT_TARGET:.2f}: {'met' if grant_ratio <= GRANT_TARGET else 'NOT met'}")

    print(f"\nCompletion events per second, 1 record each, the ingest invoke answered 202 by a recording fake; ours and "
          f"the baseline alternating event by event, one session each per round; medians of {args.rounds} rounds")
    print("ours: handlers.upload_complete.app.lambda_handler (BatchGetItem; TransactWriteItems of window + header, the "
          "claim in it; invoke; confirm UpdateItem)")
    print("baseline: the same Lambda shell; UpdateItem ADD completedAudioWindows ALL_NEW; UpdateItem ADD "
          "ingestTriggeredWindows if NOT contains; invoke")
    print(f"{'events of the session':<26} {'ours ev/s':>9} {'base ev/s':>9} {'ours ms':>8} {'base ms':>8} "
          f"{'ours/base':>9} {'per round':>20}  target >= {RATE_TARGET:.1f}")
    for rate in rates.values():
        if not rate.ours:
            continue
        ratio = median(rate.ratios)
        print(f"{rate.label:<26} {median(rate.ours):>9.1f} {median(rate.theirs):>9.1f} {median(rate.ours_ms):>8.2f} "
              f"{median(rate.theirs_ms):>8.2f} {ratio:>9.2f} {', '.join(f'{r:.2f}' for r in rate.ratios):>20}  "
              f"{'met' if ratio >= RATE_TARGET else 'NOT met'}")
    print("where the time goes, mean ms per event over every round: inside each DynamoDB call (calls per event; "
          "signing, the round trip to moto server, moto's work, parsing) + the rest of the handler")
    for rate in rates.values():
        for name in ("ours", "baseline") if rate.ours else ():
            print(f"  {rate.label:<26} {name:<9} {rate.where(name)}")
    print(f"(ev/s = events / the sum of their times; ms = median time of one event; the seeded point starts from "
          f"tables written as {SEEDED:,} events leave them: ours {SEEDED:,} window items, the baseline's item two sets "
          f"of {SEEDED:,} numbers)")
    print("guarantees checked after each round: "
          + ("every window ingested exactly once by both, ours counted once on the header and confirmed"
             if not problems else "PROBLEMS: " + "; ".join(problems)))
    if profiled:
        print("\n" + profiled)


if __name__ == "__main__":
    main()
