"""The key layout: every key the grant can mint parses back to the same session and window; nothing else parses."""


import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import layout
from handlers.domain import grants
from handlers.domain.sessions import create_session
from handlers.domain.store import SessionStore

session_ids = st.uuids(version=4).map(str)
windows = st.integers(min_value=0, max_value=layout.MAX_WINDOW_INDEX)


class MemoryTable:
    """Just enough of a DynamoDB Table for the grant's reads: the property runs thousands of grants."""

    def __init__(self):
        self.items = {}

    def put_item(self, Item, ConditionExpression):  # noqa: N803 - boto3's keyword names
        self.items[Item["sessionId"]] = Item

    def get_item(self, Key, ConsistentRead):  # noqa: N803
        item = self.items.get(Key["sessionId"])
        return {"Item": item} if item else {}


@pytest.fixture(scope="module")
def s3_client():
    # Presigning is local computation: no request leaves the process.
    return boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")


@settings(max_examples=300, deadline=None)
@given(session_id_seed=st.uuids(version=4), window=windows, size=st.integers(1, 10 * 1024 * 1024))
def test_every_granted_key_parses_back_to_its_session_and_window(s3_client, session_id_seed, window, size):
    store = SessionStore(MemoryTable(), clock=lambda: 1_800_000_000.0)
    session_id = create_session(
        "alice", "audio_only", store=store, retention_days=30, new_id=lambda: str(session_id_seed)
    )["sessionId"]
    grant = grants.grant_audio_upload(
        session_id,
        "alice",
        window,
        size,
        None,
        store=store,
        s3_client=s3_client,
        bucket="b",
        expires_in=300,
        max_bytes=10 * 1024 * 1024,
    )
    assert layout.parse_audio_key(grant.s3_key) == (session_id, window)
    assert grant.s3_key.startswith(layout.SESSIONS_PREFIX) and grant.s3_key.endswith(layout.AUDIO_SUFFIX)
    assert f"/{grant.s3_key}?" in grant.url


@given(st.text())
def test_whatever_parses_formats_back_to_the_same_key(key):
    parsed = layout.parse_audio_key(key)
    if parsed is not None:
        assert layout.audio_key(*parsed) == key


@given(session_id=session_ids, window=windows)
def test_hostile_variants_of_a_valid_key_do_not_parse(session_id, window):
    key = layout.audio_key(session_id, window)
    for variant in (
        key.upper(),
        "/" + key,
        key + "/",
        key.replace("audio.wav", "audio.WAV"),
        key.replace("window_", "window_0"),  # zero-padded alias
        key.replace(layout.SESSIONS_PREFIX, "sessions/../"),
        key.replace("/window_", "/x/window_"),
        layout.ingest_record_key(session_id, window, "r"),
    ):
        assert layout.parse_audio_key(variant) is None, variant


V4 = "3f2c8a4e-9b1d-4c7e-8a5f-0d6e1b2c3a4f"


@pytest.mark.parametrize(
    "session_id, window",
    [
        ("not-a-uuid", 0),
        ("6ba7b810-9dad-11d1-80b4-00c04fd430c8", 0),  # a version-1 id: only version 4 ids are minted
        (V4.upper(), 0),
        (V4, -1),
        (V4, layout.MAX_WINDOW_INDEX + 1),
        (V4, True),
        (V4, 1.0),
    ],
)
def test_audio_key_refuses_what_it_could_not_parse_back(session_id, window):
    with pytest.raises(ValueError):
        layout.audio_key(session_id, window)


def test_window_directory_is_zero_padded_to_three_digits():
    sid = V4
    assert layout.audio_key(sid, 7) == f"sessions/{sid}/window_007/audio.wav"
    assert layout.audio_key(sid, 1234) == f"sessions/{sid}/window_1234/audio.wav"
