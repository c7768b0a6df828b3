"""The key layout: every key the grant can mint parses back to the same session and window; nothing else parses."""


import uuid

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import contract, layout
from handlers.domain import grants
from handlers.domain.sessions import create_session

session_ids = st.uuids(version=4).map(str)
windows = st.integers(min_value=0, max_value=layout.MAX_WINDOW_INDEX)


class MemorySessions:
    """Just enough of the sessions repository for the grant's reads: the property runs thousands of grants."""

    def __init__(self):
        self.sessions = {}

    def now(self):
        return 1_800_000_000.0

    def create(self, session):
        self.sessions[session.session_id] = session

    def get(self, session_id):
        return self.sessions.get(session_id)

    def get_with_window(self, session_id, window_index):
        return self.sessions.get(session_id), None

    def get_with_windows(self, session_id, window_indexes):
        return self.sessions.get(session_id), {}


@pytest.fixture(scope="module")
def s3_client():
    # Presigning is local computation: no request leaves the process.
    return boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")


@settings(max_examples=300, deadline=None)
@given(
    session_id_seed=st.uuids(version=4),
    window=windows,
    size=st.integers(1, 10 * 1024 * 1024),
    media=st.sampled_from(layout.Media),
    frame_count=st.integers(1, contract.MAX_FRAMES_PER_WINDOW),
)
def test_every_granted_key_parses_back_to_its_session_window_and_half(
    s3_client, session_id_seed, window, size, media, frame_count
):
    store = MemorySessions()
    session_id = create_session(
        "alice", "audio_video", store=store, retention_days=30, new_id=lambda: str(session_id_seed)
    )["sessionId"]
    request = grants.HalfRequest(media, window, size, frame_count=frame_count if media is layout.Media.FRAMES else None)
    signer = grants.Signer(s3_client, "b", 300, dict.fromkeys(layout.Media, 10 * 1024 * 1024))
    grant = grants.grant_upload(request, session_id, "alice", store=store, signer=signer)
    assert layout.parse_key(grant.s3_key) == (session_id, window, media)
    assert grant.s3_key.startswith(layout.SESSIONS_PREFIX) and grant.s3_key.endswith(media.suffix)
    assert f"/{grant.s3_key}?" in grant.url
    assert grant.headers["Content-Type"] == media.content_type


def test_the_other_prefixes_lie_outside_the_sessions_prefix_and_each_other():
    """The notification filters on SESSIONS_PREFIX: an ingest record or a quarantined half written under it would
    fire the completion path for an object that is no window's."""
    prefixes = [layout.SESSIONS_PREFIX, layout.INGEST_RECORDS_PREFIX, layout.QUARANTINE_PREFIX]
    for prefix in prefixes:
        assert prefix.endswith("/") and not prefix.startswith("/")
        assert not any(other != prefix and other.startswith(prefix) for other in prefixes), prefix


@given(st.text())
def test_whatever_parses_formats_back_to_the_same_key(key):
    parsed = layout.parse_key(key)
    if parsed is not None:
        assert layout.object_key(*parsed) == key


@given(session_id=session_ids, window=windows, media=st.sampled_from(layout.Media))
def test_every_key_of_the_layout_parses_back_to_its_session_window_and_half(session_id, window, media):
    key = layout.object_key(session_id, window, media)
    assert layout.parse_key(key) == (session_id, window, media)
    assert key.startswith(layout.SESSIONS_PREFIX) and key.endswith(media.suffix)


@given(session_id=session_ids, window=windows, media=st.sampled_from(layout.Media))
def test_hostile_variants_of_a_valid_key_do_not_parse(session_id, window, media):
    key = layout.object_key(session_id, window, media)
    name = media.suffix[1:]
    for variant in (
        key.upper(),
        "/" + key,
        key + "/",
        key.replace(name, name.upper()),
        key.replace(name, "video.mp4"),
        key.replace("window_", "window_0"),  # zero-padded alias
        key.replace(layout.SESSIONS_PREFIX, "sessions/../"),
        key.replace("/window_", "/x/window_"),
        layout.ingest_record_key(session_id, window, "r"),
    ):
        assert layout.parse_key(variant) is None, variant


@given(session_id=session_ids, window=windows, request_id=st.uuids().map(str))
def test_an_ingest_record_key_names_its_window(session_id, window, request_id):
    key = layout.ingest_record_key(session_id, window, request_id)
    assert layout.ingest_record_window(session_id, key) == window
    for other in (
        layout.ingest_record_key(str(uuid.uuid4()), window, request_id),  # another session's
        key.replace("window_", "window_0"),  # a zero-padded alias
        key.removesuffix(".json"),
        key.replace(f"/{request_id}", f"/x/{request_id}"),
        layout.object_key(session_id, window, layout.Media.AUDIO),
    ):
        assert layout.ingest_record_window(session_id, other) is None, other


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


def test_window_directory_is_zero_padded_to_three_digits_and_no_more():
    sid = V4
    assert layout.audio_key(sid, 7) == f"sessions/{sid}/window_007/audio.wav"
    assert layout.frames_key(sid, 1234) == f"sessions/{sid}/window_1234/frames.zip"
    assert layout.audio_key(sid, 99_999) == f"sessions/{sid}/window_99999/audio.wav"
    assert layout.parse_key(f"sessions/{sid}/window_0007/audio.wav") is None
    assert layout.parse_key(f"sessions/{sid}/window_100000/audio.wav") is None
