"""The local stack runs functions as Lambda does: several warm instances per function, each a process of its own with
the environment, clients, credentials, logger keys and metrics of its container, up to the function's concurrency
limit; and exactly-once ingest still holds when duplicate events race on instances of their own."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack import iam, s3events, samples
from devstack.apigw import http_api_event
from devstack.instances import FunctionError, ProcessInstance
from devstack.relay import EventRelay
from devstack.runtime import Activity, AsyncInvoker, Function, error_type
from tests.e2e.conftest import put

REGION = "eu-west-1"
PROBE = "tests.e2e.probe_handler"
WAIT = 10.0  # seconds to wait for what, when the runtime works, happens at once


def _invoke_together(calls: list[tuple[Function, dict, str]]) -> list[Any]:
    """Every call from a thread of its own, all started at once; their results in order."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(function.invoke, event, request_id) for function, event, request_id in calls]
        return [future.result(timeout=3 * WAIT) for future in futures]


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# -- the pool, with plain handlers ---------------------------------------------------------------------------------


def test_invocations_of_one_function_run_at_once_each_on_an_instance_of_its_own():
    both_in = threading.Barrier(2, timeout=WAIT)  # broken, and the test failed, unless both invocations run at once
    instances: list[Callable] = []

    def load() -> Callable:
        def handler(event: dict, context: Any) -> int:
            both_in.wait()
            return instances.index(handler)

        instances.append(handler)
        return handler

    function = Function("overlap", load, REGION, timeout_seconds=WAIT, concurrency=2)
    served_by = _invoke_together([(function, {}, "first"), (function, {}, "second")])

    assert sorted(served_by) == [0, 1]
    assert function.instances == 2


def test_an_idle_instance_serves_the_next_invocation_and_no_other_is_started():
    loads = []

    def load() -> Callable:
        loads.append(1)
        return lambda event, context: context.aws_request_id

    function = Function("warm", load, REGION, timeout_seconds=WAIT)

    assert [function.invoke({}, f"request-{n}") for n in range(3)] == ["request-0", "request-1", "request-2"]
    assert len(loads) == 1 and function.instances == 1


def test_no_more_instances_than_the_concurrency_limit_run_and_the_other_invocations_wait_for_one():
    release = threading.Event()
    lock = threading.Lock()
    running, most_running, loads = [0], [0], []

    def handler(event: dict, context: Any) -> str:
        with lock:
            running[0] += 1
            most_running[0] = max(most_running[0], running[0])
        try:
            assert release.wait(WAIT)
            return context.aws_request_id
        finally:
            with lock:
                running[0] -= 1

    def load() -> Callable:
        loads.append(1)
        return handler

    function = Function("limited", load, REGION, timeout_seconds=WAIT, concurrency=2)
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(function.invoke, {}, f"request-{n}") for n in range(5)]
        _wait_until(lambda: running[0] == 2, "two invocations running")
        time.sleep(0.3)  # room for a third to start, were the limit not kept
        assert (running[0], len(loads), function.instances) == (2, 2, 2)
        release.set()
        results = sorted(future.result(timeout=WAIT) for future in futures)

    assert results == [f"request-{n}" for n in range(5)]
    assert (most_running[0], len(loads), function.instances) == (2, 2, 2)


def test_a_function_loads_its_first_instance_with_itself_and_needs_a_concurrency_of_at_least_one():
    loads = []

    def load() -> Callable:
        loads.append(1)
        return lambda event, context: "served"

    function = Function("loaded", load, REGION, timeout_seconds=WAIT, concurrency=2)
    assert (len(loads), function.instances) == (1, 1)
    assert function.invoke({}) == "served"
    assert (len(loads), function.instances) == (1, 1)
    with pytest.raises(ValueError, match="concurrency"):
        Function("none", load, REGION, timeout_seconds=WAIT, concurrency=0)


def test_an_instance_that_fails_to_start_fails_its_invocation_and_frees_its_place():
    started, release = threading.Event(), threading.Event()
    loads = itertools.count()

    def handler(event: dict, context: Any) -> bool:
        started.set()
        return release.wait(WAIT)

    def load() -> Callable:
        if next(loads) == 1:
            raise ImportError("the second instance's module does not load")
        return handler

    function = Function("broken", load, REGION, timeout_seconds=WAIT, concurrency=2)
    with ThreadPoolExecutor(2) as pool:
        busy = pool.submit(function.invoke, {})
        assert started.wait(WAIT)  # the first instance is busy
        with pytest.raises(ImportError):
            function.invoke({})
        assert function.instances == 1
        # Its place is free: the next invocation that finds every instance busy starts one (the third load).
        second = pool.submit(function.invoke, {})
        _wait_until(lambda: function.instances == 2, "a second instance started")
        release.set()
        assert (busy.result(timeout=WAIT), second.result(timeout=WAIT)) == (True, True)


# -- Lambda's async event queue ---------------------------------------------------------------------------------


def _workers(name: str) -> int:
    return sum(thread.name == f"{name}-worker" for thread in threading.enumerate())


def test_a_backlog_of_async_events_waits_in_the_queue_and_runs_on_no_more_workers_than_instances():
    release = threading.Event()
    handled: list[int] = []
    function = Function("backlog", lambda: lambda event, context: (release.wait(WAIT), handled.append(event)),
                        REGION, timeout_seconds=WAIT, concurrency=2)
    activity = Activity()
    invoker = AsyncInvoker(function, (0.01,), activity, threading.Event())

    for n in range(200):
        invoker.submit(n)
    assert activity.busy and _workers("backlog") == 2  # 200 events, two threads: each runs one at a time
    release.set()
    _wait_until(lambda: not activity.busy, "every event handled")

    assert sorted(handled) == list(range(200))
    _wait_until(lambda: _workers("backlog") == 0, "the workers gone once the queue is empty")


def test_a_failed_async_event_waits_for_its_retry_without_holding_a_worker_then_goes_to_its_destination():
    attempts: list[str] = []
    failures: list[tuple[str, str, int]] = []

    def handler(event: str, context: Any) -> None:
        attempts.append(f"{event}:{context.aws_request_id[:8]}")
        if event == "bad":
            raise RuntimeError("always fails")

    function = Function("retrying", lambda: handler, REGION, timeout_seconds=WAIT, concurrency=1)
    activity = Activity()
    invoker = AsyncInvoker(function, (0.3, 0.3), activity, threading.Event(),
                           on_failure=lambda event, request_id, error, n: failures.append((event, str(error), n)))
    bad = invoker.submit("bad")[:8]
    good = invoker.submit("good")[:8]
    _wait_until(lambda: not activity.busy, "both events done")

    # The one worker ran the good event while the bad one waited for its retry; each retry has its request id.
    assert attempts == [f"bad:{bad}", f"good:{good}", f"bad:{bad}", f"bad:{bad}"]
    assert failures == [("bad", "always fails", 3)]


def test_the_relay_hands_each_event_to_the_invoker_then_deletes_the_messages_before_any_has_run():
    class Queue:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def delete_message_batch(self, QueueUrl: str, Entries: list[dict]) -> None:  # noqa: N803 - boto3's names
            self.deleted += [entry["ReceiptHandle"] for entry in Entries]

    class Invoker:
        def __init__(self) -> None:
            self.submitted: list[tuple[dict, list[str]]] = []

        def submit(self, event: dict) -> str:
            self.submitted.append((event, list(queue.deleted)))
            return "request"

    queue, invoker = Queue(), Invoker()
    events = [s3events.notification(s3events.notification_record("bucket", f"sessions/s/window_00{n}/audio.wav", size=1))
              for n in range(2)]
    duplicated = iter([True, False])
    relay = EventRelay(queue, "url", invoker, threading.Event(), duplicate=lambda: next(duplicated))
    relay.relay([{"ReceiptHandle": "test", "Body": json.dumps({"Event": "s3:TestEvent"})}] +
                [{"ReceiptHandle": f"receipt-{n}", "Body": json.dumps(event)} for n, event in enumerate(events)])

    # The first event twice (a duplicate), the test event never; every submit before any message left the queue;
    # then all deleted though none has run: a backlog waits in the invoker, and the queue, which moto scans whole on
    # every send, receive and delete, stays short.
    assert invoker.submitted == [(events[0], []), (events[0], []), (events[1], [])]
    assert queue.deleted == ["test", "receipt-0", "receipt-1"]


def test_the_relays_pollers_receive_at_once_so_a_slow_receive_holds_up_no_other():
    class Queue:
        """Each receive waits inside until another poller is inside one too: a lone poller's never ends."""

        def __init__(self) -> None:
            self.all_in = threading.Barrier(2, timeout=WAIT)
            self.delivered: list[str] = []

        def receive_message(self, **_: Any) -> dict:
            if stopping.is_set():
                return {}
            n = self.all_in.wait()
            body = json.dumps(s3events.notification(s3events.notification_record("b", f"k{n}", size=1)))
            return {"Messages": [{"ReceiptHandle": f"r{n}", "Body": body}]}

        def delete_message_batch(self, QueueUrl: str, Entries: list[dict]) -> None:  # noqa: N803 - boto3's names
            self.delivered += [entry["ReceiptHandle"] for entry in Entries]

        def send_message(self, **_: Any) -> None:  # the stop's wake-up
            pass

    class Invoker:
        def submit(self, event: dict) -> str:
            return "request"

    queue, stopping = Queue(), threading.Event()
    relay = EventRelay(queue, "url", Invoker(), stopping)
    relay.start()
    try:
        _wait_until(lambda: len(queue.delivered) >= 2, "two batches, received at once")
    finally:
        stopping.set()
        queue.all_in.abort()
        relay.stop()
    assert {"r0", "r1"} <= set(queue.delivered)


def test_a_batch_the_relay_cannot_delete_is_logged_and_the_relay_goes_on_polling(caplog):
    class Queue:
        def __init__(self) -> None:
            self.receives: Counter[str] = Counter()  # by poller thread

        def receive_message(self, **_: Any) -> dict:
            self.receives[threading.current_thread().name] += 1
            return {"Messages": [{"ReceiptHandle": "r", "Body": "{}"}]} if self.receives.total() == 1 else {}

        def delete_message_batch(self, **_: Any) -> None:
            raise RuntimeError("moto went away for a moment")

        def send_message(self, **_: Any) -> None:  # the stop's wake-up
            pass

    def failure() -> logging.LogRecord | None:
        return next((r for r in caplog.records if r.getMessage() == "relaying S3 events failed"), None)

    queue, stopping = Queue(), threading.Event()
    relay = EventRelay(queue, "url", AsyncInvoker(Function("f", lambda: lambda e, c: None, REGION, WAIT), (),
                                                  Activity(), stopping), stopping)
    relay.start()
    try:
        _wait_until(failure, "the failed delete logged")
        # The poller whose delete failed polls again (the others poll all along).
        _wait_until(lambda: queue.receives[failure().threadName] >= 2, "the relay polling after the failed delete")
    finally:
        stopping.set()
        relay.stop()


# -- real handler modules, each instance a process: environment, credentials, logger keys, metrics, errors -------


@pytest.fixture
def probe(tmp_path) -> Iterator[Callable[[str], Function]]:
    """A function of the probe handler whose every instance is a process loaded with an environment of its own: the
    function's name as its service, `<name>-<n>` as its setting and in its endpoint, and credentials `AKID<name><n>`;
    its calls recorded by `recorders[name]`. Every instance is ended after the test."""
    functions: list[Function] = []

    def make(name: str) -> Function:
        instances = itertools.count(1)
        recorders[name] = iam.CallRecorder(REGION)

        def load() -> ProcessInstance:
            n = next(instances)
            environment = {
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": f"AKID{name}{n}",
                "AWS_SECRET_ACCESS_KEY": f"secret-{name}-{n}",
                "AWS_ENDPOINT_URL": f"http://{name}-{n}.invalid",
                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "PROBE_SETTING": f"{name}-{n}",
            }
            return ProcessInstance(f"{PROBE}.lambda_handler", environment, REGION, recorders[name])

        functions.append(Function(name, load, REGION, timeout_seconds=WAIT, concurrency=2))
        return functions[-1]

    recorders: dict[str, iam.CallRecorder] = {}
    make.recorders = recorders
    yield make
    for function in functions:
        function.close()


def _rendezvous(tmp_path: Path, parties: int) -> dict:
    folder = tmp_path / f"rendezvous-{next(_RENDEZVOUS)}"
    folder.mkdir()
    return {"folder": str(folder), "parties": parties}


_RENDEZVOUS = itertools.count()


def _three_at_once(probe: Callable[[str], Function], tmp_path: Path) -> list[dict]:
    """Two invocations of one function and one of another, all inside their handlers at once."""
    one, two = probe("probe-one"), probe("probe-two")
    rendezvous = _rendezvous(tmp_path, 3)
    return _invoke_together([
        (one, {"name": "A", "rendezvous": rendezvous}, "request-A"),
        (one, {"name": "B", "rendezvous": rendezvous}, "request-B"),
        (two, {"name": "C", "rendezvous": rendezvous}, "request-C"),
    ])


def test_each_instance_is_a_process_of_its_own_with_the_environment_clients_and_credentials_it_was_loaded_with(
    probe, tmp_path
):
    results = _three_at_once(probe, tmp_path)

    # Each instance's setting (as it read it at load, and in its environment now), client endpoint and client
    # credentials are those of its own load, never another's.
    assert sorted((r["setting"], r["settingInEnvironment"], r["endpoint"], r["accessKey"]) for r in results) == [
        ("probe-one-1", "probe-one-1", "http://probe-one-1.invalid", "AKIDprobe-one1"),
        ("probe-one-2", "probe-one-2", "http://probe-one-2.invalid", "AKIDprobe-one2"),
        ("probe-two-1", "probe-two-1", "http://probe-two-1.invalid", "AKIDprobe-two1"),
    ]
    # Three processes (three interpreters, three locks), none of them this one, whose environment has no function's.
    assert len({r["process"] for r in results} | {os.getpid()}) == 4
    assert "PROBE_SETTING" not in os.environ


def _json_documents(text: str) -> list[dict]:
    """Every JSON object printed, whatever the lines: concurrent prints may share one."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def test_logger_keys_and_metrics_of_concurrent_invocations_stay_with_their_own_invocation(probe, tmp_path, capsys):
    capsys.readouterr()
    _three_at_once(probe, tmp_path)
    # What each instance printed is on this process's stdout once its invocation returns, as in the function's log.
    printed = _json_documents(capsys.readouterr().out)

    logs = [d for d in printed if d.get("message") == "probed"]
    assert sorted((d["service"], d["probe"], d["function_request_id"]) for d in logs) == [
        ("probe-one", "A", "request-A"),
        ("probe-one", "B", "request-B"),
        ("probe-two", "C", "request-C"),
    ]
    # One EMF blob per invocation, with its own metric and dimensions.
    blobs = [d for d in printed if "_aws" in d]
    assert sorted(
        (d["service"], d["probe"], [m["Name"] for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]]) for d in blobs
    ) == [
        ("probe-one", "A", ["ProbeA"]),
        ("probe-one", "B", ["ProbeB"]),
        ("probe-two", "C", ["ProbeC"]),
    ]


def test_concurrent_requests_to_an_http_api_resolver_each_see_their_own_event_and_context(probe, tmp_path):
    api = probe("probe-api")
    rendezvous = _rendezvous(tmp_path, 2)
    requests = [dict(http_api_event("GET", "/caller", claims={"sub": user}), rendezvous=rendezvous)
                for user in ("ann", "bob")]

    responses = _invoke_together([(api, requests[0], "request-ann"), (api, requests[1], "request-bob")])

    assert [json.loads(r["body"]) for r in responses] == [
        {"sub": "ann", "requestId": "request-ann"},
        {"sub": "bob", "requestId": "request-bob"},
    ]


def test_a_handler_error_is_raised_as_lambda_reports_it_and_the_instance_serves_on(probe):
    function = probe("probe-errors")

    with pytest.raises(FunctionError) as raised:
        function.invoke({}, "request-bad")  # no name: the handler's KeyError
    assert (raised.value.error_type, str(raised.value)) == ("KeyError", "'name'")
    assert "probe_handler.py" in raised.value.trace and error_type(raised.value) == "KeyError"
    assert function.invoke({"name": "A"}, "request-good")["setting"] == "probe-errors-1"
    assert function.instances == 1


def test_an_instance_whose_process_ends_fails_its_invocation_and_leaves_the_pool_to_a_new_one(probe):
    function = probe("probe-exit")
    first = function.invoke({"name": "A"})["process"]

    with pytest.raises(FunctionError) as raised:
        function.invoke({"exit": True})
    assert raised.value.error_type == "Runtime.ExitError" and function.instances == 0
    second = function.invoke({"name": "B"})
    assert second["setting"] == "probe-exit-2" and second["process"] != first


def test_an_instance_whose_process_ended_while_idle_fails_its_next_invocation_and_leaves_the_pool(probe):
    function = probe("probe-killed")
    first = function.invoke({"name": "A"})["process"]
    os.kill(first, signal.SIGKILL)
    _wait_until(lambda: not _running(first), "the instance's process gone")

    with pytest.raises(FunctionError) as raised:
        function.invoke({"name": "B"})
    assert raised.value.error_type == "Runtime.ExitError" and function.instances == 0
    assert function.invoke({"name": "C"})["setting"] == "probe-killed-2"


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_handler_module_that_cannot_load_fails_its_instance_start_with_its_error():
    with pytest.raises(FunctionError) as raised:
        ProcessInstance(f"{PROBE}.lambda_handler", {"AWS_REGION": REGION}, REGION)  # no PROBE_SETTING
    assert (raised.value.error_type, str(raised.value)) == ("KeyError", "'PROBE_SETTING'")


def test_the_calls_an_instance_makes_reach_its_functions_recorder(probe):
    function = probe("probe-calls")
    function.invoke({"name": "A", "presign": "probe-bucket"})  # a URL signed: a call of the function's, once used
    assert iam.Call("s3:ListBucket", "arn:aws:s3:::probe-bucket") in probe.recorders["probe-calls"].calls


# -- the stack: exactly once, with the completion function's instances racing --------------------------------------

DUPLICATES = 8


def test_duplicate_events_racing_on_instances_of_their_own_still_ingest_the_window_once(stack, api):
    body = samples.wav_bytes()
    session_id = api.create_session()
    grant = api.grant(session_id, 0, body)
    put(grant, body)
    # The relay delivers the event S3 sent; these duplicates arrive together, each an async invocation of its own.
    event = json.dumps(s3events.notification(s3events.notification_record(stack.names.bucket, grant["s3Key"],
                                                                          size=len(body))))
    lambda_ = stack.client("lambda")
    with ThreadPoolExecutor(DUPLICATES) as pool:
        answers = list(pool.map(
            lambda _: lambda_.invoke(FunctionName=stack.names.completion_function, InvocationType="Event",
                                     Payload=event)["StatusCode"],
            range(DUPLICATES),
        ))
    assert answers == [202] * DUPLICATES
    stack.wait_idle()

    status = api.status(session_id)
    assert (status["recordedWindows"], status["ingestedWindows"]) == ([[0, 0]], [[0, 0]])
    assert stack.ingest_counts(session_id) == {0: 1}
