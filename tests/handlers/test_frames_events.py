"""The frames half through the completion Lambda under moto, by both transports: a frames.zip key records the frames
half, and an audio_video window is ingested once, when its second half arrives, with the bundle's frame count."""

import io
import wave
import zipfile

import boto3
import pytest
import requests

from devstack import s3events
from handlers import contract, layout
from tests.conftest import BUCKET, REGION, load_handler
from tests.handlers.conftest import Api, LambdaContext
from tests.handlers.test_upload_complete import FakeLambda, windows

FRAME_COUNT = 7
TRANSPORTS = tuple(contract.EventTransport)


def wav_bytes(seconds: float = 0.1, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


def zip_bytes(entries: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        for n in range(entries):
            bundle.writestr(f"frame_{n:04d}.jpg", b"\xff\xd8 frame %d \xff\xd9" % n)
    return out.getvalue()


@pytest.fixture(scope="module")
def handlers(aws_module):
    return Api(load_handler("handlers.api.app")), load_handler("handlers.upload_complete.app")


@pytest.fixture
def fake_lambda(handlers, monkeypatch):
    _, module = handlers
    fake = FakeLambda()
    monkeypatch.setattr(module.ingest, "_client", fake)
    return fake


def store_half(api: Api, session_id: str, window: int, media: layout.Media) -> str:
    """Grant and PUT a real half (a valid WAV, or a ZIP of FRAME_COUNT entries), as a client does; its key."""
    if media is layout.Media.AUDIO:
        body, path, extra = wav_bytes(), "audio", {}
    else:
        body, path, extra = zip_bytes(FRAME_COUNT), "frames", {"frameCount": FRAME_COUNT}
    status, grant = api.call(
        "POST", f"/sessions/{session_id}/{path}", query={"windowIndex": str(window)},
        body={"sizeBytes": len(body), **extra},
    )
    assert status == 200, grant
    assert requests.put(grant["url"], data=body, headers=grant["headers"], timeout=10).status_code == 200
    return grant["s3Key"]


def event_for(key: str, transport: contract.EventTransport) -> dict:
    """The event the transport delivers for the object now stored under `key` (its real size and ETag)."""
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=key)
    size, etag = head["ContentLength"], head["ETag"].strip('"')
    if transport is contract.EventTransport.NOTIFICATION:  # the key URL-encoded, as S3 sends it
        return s3events.notification(s3events.notification_record(BUCKET, key, size=size, etag=etag))
    return s3events.object_created(BUCKET, key, size=size, etag=etag)  # the key raw


def ingest_requests(fake: FakeLambda, session_id: str) -> list[dict]:
    return [payload for _, kind, payload in fake.invokes if kind == "Event" and payload["sessionId"] == session_id]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_frames_key_records_the_frames_half(handlers, fake_lambda, transport):
    api, module = handlers
    sid = api.create("audio_video")
    key = store_half(api, sid, 5, layout.Media.FRAMES)

    assert module.lambda_handler(event_for(key, transport), LambdaContext()) == {"handled": 1}

    window = windows(module, sid)[5]
    assert window.frames is not None and window.audio is None
    assert window.frames.size_bytes == len(zip_bytes(FRAME_COUNT))
    assert not window.recorded and ingest_requests(fake_lambda, sid) == []  # its audio has not arrived


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("order", [("audio", "frames"), ("frames", "audio")], ids=["audio-first", "frames-first"])
def test_an_audio_video_window_is_ingested_once_when_its_second_half_arrives(handlers, fake_lambda, transport, order):
    api, module = handlers
    sid = api.create("audio_video")
    first, second = (store_half(api, sid, 2, layout.Media(m)) for m in order)

    module.lambda_handler(event_for(first, transport), LambdaContext())
    assert ingest_requests(fake_lambda, sid) == []
    module.lambda_handler(event_for(second, transport), LambdaContext())
    module.lambda_handler(event_for(second, transport), LambdaContext())  # a duplicate delivery
    module.lambda_handler(event_for(first, transport), LambdaContext())

    window = windows(module, sid)[2]
    assert window.recorded and window.ingested and window.audio and window.frames
    assert [r["windowIndex"] for r in ingest_requests(fake_lambda, sid)] == [2]


def test_the_two_halves_may_come_by_either_transport(handlers, fake_lambda):
    api, module = handlers
    sid = api.create("audio_video")
    module.lambda_handler(event_for(store_half(api, sid, 0, layout.Media.AUDIO), contract.EventTransport.EVENTBRIDGE), LambdaContext())
    module.lambda_handler(event_for(store_half(api, sid, 0, layout.Media.FRAMES), contract.EventTransport.NOTIFICATION), LambdaContext())
    assert [r["windowIndex"] for r in ingest_requests(fake_lambda, sid)] == [0]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_ingest_request_carries_the_frame_count_the_grant_bound(handlers, fake_lambda, transport):
    """The frame count is read back from the object (its signed x-amz-meta-frame-count, checked against the ZIP's
    entries), not from the event, which does not carry it."""
    api, module = handlers
    sid = api.create("audio_video")
    for media in layout.Media:
        module.lambda_handler(event_for(store_half(api, sid, 9, media), transport), LambdaContext())

    [request] = ingest_requests(fake_lambda, sid)
    assert request == {"sessionId": sid, "userId": "alice", "windowIndex": 9, "frameCount": FRAME_COUNT}
    assert windows(module, sid)[9].frames.frame_count == FRAME_COUNT
