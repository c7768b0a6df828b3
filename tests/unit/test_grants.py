"""grant_upload, the one grant of both halves: what it binds for each, and the order of its refusals."""

from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.config import Config

from handlers import contract, layout
from handlers.contract import Status
from handlers.domain import grants
from handlers.domain.errors import BadRequest, Conflict, NotFound
from handlers.domain.sessions import create_session
from tests.unit.test_layout import MemorySessions

MAX_BYTES = 1000


@pytest.fixture(scope="module")
def s3_client():
    # SigV4, as the API's client signs (handlers/api/app.py): presigning is local, no request leaves the process.
    return boto3.client("s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b",
                        config=Config(signature_version="s3v4"))


@pytest.fixture
def store():
    return MemorySessions()


def session(store, mode="audio_video", status=Status.RECORDING):
    session_id = create_session("alice", mode, store=store, retention_days=30)["sessionId"]
    store.sessions[session_id] = replace(store.sessions[session_id], status=status)
    return session_id


def grant(store, s3_client, media, session_id, *, window=0, size=10, sha256=None, frame_count=None, user="alice"):
    request = grants.HalfRequest(media, window, size, sha256, frame_count)
    return grants.grant_upload(request, session_id, user, store=store, signer=signer(s3_client))


def signer(s3_client):
    return grants.Signer(s3_client, "b", 300, dict.fromkeys(layout.Media, MAX_BYTES))


def test_a_frames_grant_binds_its_type_and_frame_count_and_an_audio_grant_neither(store, s3_client):
    sid = session(store)
    frames = grant(store, s3_client, layout.Media.FRAMES, sid, window=3, frame_count=25)
    audio = grant(store, s3_client, layout.Media.AUDIO, sid, window=3)
    assert frames.s3_key == layout.frames_key(sid, 3) and audio.s3_key == layout.audio_key(sid, 3)
    assert frames.headers == {"Content-Type": "application/zip", "Content-Length": "10", "If-None-Match": "*",
                              "x-amz-meta-frame-count": "25"}
    assert audio.headers == {"Content-Type": "audio/wav", "Content-Length": "10", "If-None-Match": "*"}
    for granted in (frames, audio):
        signed = parse_qs(urlparse(granted.url).query)["X-Amz-SignedHeaders"][0].split(";")
        assert sorted(signed) == sorted([h.lower() for h in granted.headers] + ["host"])


@pytest.mark.parametrize("frame_count", [None, 0, -1, contract.MAX_FRAMES_PER_WINDOW + 1, True, 1.0, "3"])
def test_a_frames_grant_needs_a_frame_count_in_range(store, s3_client, frame_count):
    with pytest.raises(BadRequest, match=f"^frameCount: must be an integer from 1 to {contract.MAX_FRAMES_PER_WINDOW}$"):
        grant(store, s3_client, layout.Media.FRAMES, session(store), frame_count=frame_count)


def test_an_audio_grant_takes_no_frame_count(store, s3_client):
    with pytest.raises(BadRequest, match="^frameCount: "):
        grant(store, s3_client, layout.Media.AUDIO, session(store), frame_count=3)


def test_frames_for_an_audio_only_session_is_a_bad_request_naming_the_frames(store, s3_client):
    with pytest.raises(BadRequest, match="^frames: this session's captureMode is audio_only, which records no frames$"):
        grant(store, s3_client, layout.Media.FRAMES, session(store, "audio_only"), frame_count=3)


def test_refusals_come_input_first_then_owner_then_capture_mode_then_state(store, s3_client):
    finished_audio_only = session(store, "audio_only", Status.READY)
    with pytest.raises(BadRequest, match="^sizeBytes: "):  # bad input, whoever asks
        grant(store, s3_client, layout.Media.FRAMES, finished_audio_only, size=MAX_BYTES + 1, frame_count=3,
              user="mallory")
    with pytest.raises(NotFound):  # another's session: nothing about it is revealed
        grant(store, s3_client, layout.Media.FRAMES, finished_audio_only, frame_count=3, user="mallory")
    with pytest.raises(BadRequest, match="^frames: "):  # never grantable, whatever the state
        grant(store, s3_client, layout.Media.FRAMES, finished_audio_only, frame_count=3)
    with pytest.raises(Conflict, match="ready"):
        grant(store, s3_client, layout.Media.AUDIO, finished_audio_only)
