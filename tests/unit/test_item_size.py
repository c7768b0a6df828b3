"""A session item holds every window the layout accepts: DynamoDB refuses items over 400 KB, mid-recording."""

import copy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handlers import layout
from handlers.domain import completeness, completion
from handlers.domain.sessions import create_session
from handlers.domain.store import SessionStore
from tests.conftest import REGION, create_table
from tests.unit.test_completion import Clock, RecordingIngest

WIDEST_ETAG = '"' + "f" * 32 + "-10000" + '"'  # a multipart ETag is the longest form S3 gives
WIDEST_SIZE = 5 * 1024**3  # a single PUT's maximum


def full_session(store, windows: int) -> dict:
    """The item of an audio_video session whose every window arrived, was ingested and is listed in every set,
    built from what the real store writes for one window, replicated at its widest for each window."""
    ingest = RecordingIngest()
    deps = completion.Pipeline(store, ingest, RecordingIngest(), lease_seconds=45)
    sid = create_session("a-user-id-" + "x" * 26, "audio_video", store=store, retention_days=30)["sessionId"]
    completeness.complete_session(
        sid, "a-user-id-" + "x" * 26, 1, store=store, trigger=RecordingIngest(), lease_seconds=45
    )
    completion.audio_window_created(completion.ObjectCreated(layout.audio_key(sid, 0), WIDEST_SIZE, WIDEST_ETAG), deps)
    completion.frames_window_completed(sid, 0, 99_999, deps)
    one = store.get(sid)
    item = copy.deepcopy(one)
    for attribute in ("audioWindows", "frameWindows"):
        item[attribute] = {str(w): one[attribute]["0"] for w in range(windows)}
    for attribute in ("completedAudioWindows", "completedFrameWindows", "ingestTriggeredWindows"):
        item[attribute] = set(range(windows))
    item["missingWindows"] = list(range(windows))  # an incomplete session lists its gaps: bound it by all of them
    return item


@pytest.fixture
def table():
    with mock_aws():
        yield create_table(boto3.resource("dynamodb", region_name=REGION))


def test_a_session_with_every_accepted_window_fits_in_one_item(table):
    store = SessionStore(table, Clock())
    table.put_item(Item=full_session(store, layout.MAX_WINDOW_INDEX + 1))


def test_the_size_limit_is_real_so_the_test_above_can_fail(table):
    store = SessionStore(table, Clock())
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        table.put_item(Item=full_session(store, 2 * (layout.MAX_WINDOW_INDEX + 1)))
