"""Fixtures shared by every layer: fake AWS credentials, and moto with the stack's bucket and table."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from schemathesis.pytest.plugin import SchemathesisFunction

from devstack import deploy
from handlers import contract

REGION = "eu-west-1"
BUCKET = "session-uploads-test"
TABLE = "session-uploads-sessions-test"
INGEST_FUNCTION = "session-uploads-ingest-test"


FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "session-uploads-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
HANDLER_ENV = {
    contract.ENV_BUCKET_NAME: BUCKET,
    contract.ENV_SESSIONS_TABLE_NAME: TABLE,
    contract.ENV_INGEST_FUNCTION_NAME: INGEST_FUNCTION,
    contract.ENV_PROCESSING_EVENT_BUS_NAME: "default",  # every account (and moto) has it
}


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """What `-n auto` (make test) starts: one worker per core and one more. A worker waits about a third of its time,
    on its local stack's processes and on the finalizing timeouts and retry delays its tests wait out, and the extra
    worker fills those waits: `make test` took 67.2, 69.5 and 69.1 s with three workers against 86.8, 78.1 and 74.2 s
    with two (alternating runs on a 2-core machine, idle 12 to 18 s against 38 to 46 s of each run); four took 73.3 s.
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides when it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test has an id of its own. schemathesis names each API operation's test `test_x[GET /path]`, but pytest 9
    builds a test's id from its original name and parametrization only, so the operations of one test shared one id,
    and xdist's `--dist loadfile` (make test), which schedules by id, ran one operation of seven. Each gets the id its
    name spells, set as schemathesis's own lazy schemas set theirs: through pytest's private id, which has no public
    setter. A duplicate left (this hook broken by an upgrade, say) fails the collection."""
    for item in items:
        if isinstance(item, SchemathesisFunction) and item.id.params is None and "[" in item.name:
            item._id = item.id.with_params(item.name.partition("[")[2].removesuffix("]"))
    if shared := sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1):
        raise pytest.UsageError(f"tests sharing an id (xdist would run one of each): {', '.join(shared)}")


def _fake_environment(patch: pytest.MonkeyPatch) -> None:
    """No test may reach a real account: fake credentials and region, and no endpoint overrides."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        patch.setenv(name, value)


@pytest.fixture(autouse=True, scope="session")
def serialized_dynamodb():
    """moto's DynamoDB conditional writes are not atomic under concurrent requests; real DynamoDB's are, and the
    handlers that write from several threads (the sweeper's heal) rely on them. In process, as in the local stack's
    server (devstack.moto_process.SerializedDynamoDB), moto takes DynamoDB's requests one at a time."""
    lock, process = threading.Lock(), BotocoreStubber.process_request

    def one_at_a_time(self, request):
        target = request.headers.get("X-Amz-Target") or b""
        if (target.decode() if isinstance(target, bytes) else target).startswith("DynamoDB_"):
            with lock:
                return process(self, request)
        return process(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BotocoreStubber, "process_request", one_at_a_time)
        yield


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    _fake_environment(monkeypatch)


def create_table(dynamodb, name: str = TABLE):
    """The sessions table as the stack defines it (the program's table, devstack.deploy), as a boto3 Table resource."""
    deploy.create_sessions_table(dynamodb.meta.client, name)
    return dynamodb.Table(name)


@contextlib.contextmanager
def mocked_stack():
    """moto with the stack's bucket and table, and the handlers' environment variables set."""
    with pytest.MonkeyPatch.context() as patch:
        _fake_environment(patch)
        for name, value in HANDLER_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            deploy.create_bucket(boto3.client("s3", region_name=REGION), BUCKET, REGION)
            create_table(boto3.resource("dynamodb", region_name=REGION))
            yield patch


@pytest.fixture
def aws():
    with mocked_stack() as patch:
        yield patch


@pytest.fixture(scope="module")
def aws_module():
    """The same, shared by a module's tests: each test works on its own sessions."""
    with mocked_stack() as patch:
        yield patch


def run_cli(main: Callable[[list[str]], int], capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """A command-line tool's `main(argv)` in-process: (exit code, stdout, stderr). argparse's usage errors end in
    SystemExit; no error may reach the user as a traceback."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def load_handler(module: str):
    """Import (or re-import) a handler module inside the mock, so its module-level clients are mocked."""
    try:
        loaded = importlib.reload(sys.modules[module]) if module in sys.modules else importlib.import_module(module)
    finally:
        # A handler module pauses the collector while it imports, then freezes all this process holds (handlers/
        # coldstart.py), once in an instance's life; a test process loads handlers again and again, and would freeze
        # each test's garbage with them. The frozen objects go back to the collector, which is on again even after
        # a load that raised.
        gc.unfreeze()
        gc.enable()
    # Powertools' Metrics share their metric and dimension sets across instances: a fresh container starts with none,
    # not with what another handler of this test process left unflushed (its `service` dimension among them).
    if hasattr(loaded, "metrics"):
        loaded.metrics.clear_metrics()
    return loaded
