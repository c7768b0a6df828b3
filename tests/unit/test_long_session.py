"""A long session through the real store under moto: constant-size items, readiness once, a bounded status body."""

import json
import os
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from bench.cost import item_size
from handlers import layout
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completeness, completion
from handlers.domain.sessions import create_session, session_status
from tests.conftest import REGION, create_table
from tests.unit.test_completion import Clock, FakeObjects, RecordingIngest

# 10,000 windows take about two minutes per capture mode under in-process moto (about 12 ms per completion event,
# moto's own request handling): `make test` runs 150 (its two-minute budget), `make test-long` the full 10,000.
WINDOWS = int(os.environ.get("LONG_SESSION_WINDOWS", "150"))
WIDEST_ETAG = '"' + "f" * 32 + "-10000" + '"'  # a multipart ETag is the longest form S3 gives
CHECKSUM = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # a SHA-256 in base64, as S3 reports it


class WidestObjects(FakeObjects):
    """Every object with the widest ETag and a checksum: the largest window item the table can hold."""

    def head(self, key):
        head = super().head(key)
        return head and replace(head, etag=WIDEST_ETAG, checksum_sha256=CHECKSUM)


@pytest.fixture
def env():
    with mock_aws():
        table = create_table(boto3.resource("dynamodb", region_name=REGION))
        store = SessionsTable(table, Clock(), lease_seconds=45)
        ingest, ready = RecordingIngest(), RecordingIngest()
        yield table, store, ingest, ready, completion.Pipeline(store, WidestObjects(), ingest, ready)


def record(deps, sid, window, media):
    obj = completion.ObjectCreated(layout.object_key(sid, window, media), 0, "")
    return completion.object_created(obj, deps)


def largest_item(table) -> int:
    sizes, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        sizes += [sum(len(k.encode()) + item_size(v) for k, v in item.items()) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return max(sizes)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", ["audio_only", "audio_video"])
def test_a_long_session_keep_every_item_small_and_ready_the_session_once(env, mode):
    table, store, ingest, ready, deps = env
    user = "a-user-id-" + "x" * 26
    sid = create_session(user, mode, store=store, retention_days=30)["sessionId"]
    halves = [layout.Media.AUDIO] if mode == "audio_only" else [layout.Media.FRAMES, layout.Media.AUDIO]
    for window in range(WINDOWS - 2):
        for media in halves:
            record(deps, sid, window, media)
    # complete arrives between the last windows
    body = completeness.complete_session(sid, user, WINDOWS, store=store, trigger=ready).body
    assert (body["status"], body["missingWindows"]) == ("finalizing", [[WINDOWS - 2, WINDOWS - 1]])
    for window in (WINDOWS - 1, WINDOWS - 2):
        for media in halves:
            record(deps, sid, window, media)
    record(deps, sid, WINDOWS - 1, layout.Media.AUDIO)  # a duplicate of the last event moves nothing

    status = session_status(sid, user, store)
    assert status["status"] == "ready" and status["recordedWindows"] == [[0, WINDOWS - 1]]
    assert status["counts"]["recorded"] == status["counts"]["ingested"] == WINDOWS
    assert len(json.dumps(status)) < 1024  # the body does not grow with contiguous windows
    assert store.get(sid).recorded_count == WINDOWS
    assert [d["sessionId"] for d in ready.requests] == [sid]
    assert sorted(r["windowIndex"] for r in ingest.requests) == list(range(WINDOWS))
    assert largest_item(table) < 2048
