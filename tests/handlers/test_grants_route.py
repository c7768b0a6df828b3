"""POST /sessions/{id}/grants under moto: several halves granted in one request, each exactly as its own route grants
it; the halves already recorded listed apart; and every refusal of the whole request."""

from urllib.parse import parse_qs, urlparse

import pytest

from devstack import s3events
from handlers import contract, layout
from tests.conftest import BUCKET
from tests.handlers.conftest import LambdaContext, upload
from tests.handlers.test_api import set_status
from tests.handlers.test_frames_route import frames
from tests.handlers.test_windows_route import handlers, record  # noqa: F401 (the module's fixture)

SHA = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # the SHA-256 of no bytes


def audio(window, size=2048, **extra):
    return {"half": "audio", "windowIndex": window, "sizeBytes": size, **extra}


def frames_half(window, size=4096, frame_count=120, **extra):
    return {"half": "frames", "windowIndex": window, "sizeBytes": size, "frameCount": frame_count, **extra}


def grant_many(api, session_id, *uploads, user="alice"):
    return api.call("POST", f"/sessions/{session_id}/grants", body={"uploads": list(uploads)}, user=user)


def without_signature(grant):
    """A grant with its URL's signing time and signature left out: two grants of one half signed in different seconds
    differ only there."""
    url = urlparse(grant["url"])
    query = {k: v for k, v in parse_qs(url.query).items() if k not in ("X-Amz-Date", "X-Amz-Signature")}
    return {**grant, "url": (url.scheme, url.netloc, url.path, query)}


def test_each_half_is_granted_in_the_order_asked_as_its_own_route_grants_it(handlers):  # noqa: F811
    api, _ = handlers
    sid = api.create("audio_video")
    asked = [audio(0, sha256=SHA), frames_half(0), audio(1), frames_half(1, frame_count=7, sha256=SHA), audio(99_999)]
    status, body = grant_many(api, sid, *asked)
    assert status == 200, body
    assert body["refused"] == []
    assert [(g["half"], g["windowIndex"]) for g in body["grants"]] == [(u["half"], u["windowIndex"]) for u in asked]
    for granted, upload_ in zip(body["grants"], asked, strict=True):
        fields = {k: v for k, v in upload_.items() if k not in ("half", "windowIndex")}
        if upload_["half"] == "audio":
            status, alone = api.grant(sid, upload_["windowIndex"], fields["sizeBytes"], fields.get("sha256"))
        else:
            status, alone = frames(api, sid, upload_["windowIndex"], fields["sizeBytes"], fields["frameCount"],
                                   fields.get("sha256"))
        assert status == 200, alone
        assert without_signature(granted) == without_signature({**alone, "half": upload_["half"]})
    assert body["grants"][3]["headers"]["x-amz-meta-frame-count"] == "7"


def test_halves_already_recorded_are_refused_apart_and_the_others_granted(handlers):  # noqa: F811
    api, completion = handlers
    sid = api.create()
    record(completion, sid, 1, 3)
    invalid = upload(layout.audio_key(sid, 4), body=b"not a WAV")
    completion.lambda_handler(s3events.notification(s3events.notification_record(BUCKET, invalid)), LambdaContext())
    status, body = grant_many(api, sid, audio(0), audio(1), audio(2), audio(3), audio(4))
    assert status == 200, body
    assert [g["windowIndex"] for g in body["grants"]] == [0, 2, 4]  # a refused (invalid) upload may be sent again
    assert body["refused"] == [
        {"windowIndex": 1, "half": "audio", "error": "window 1: its audio is already recorded"},
        {"windowIndex": 3, "half": "audio", "error": "window 3: its audio is already recorded"},
    ]
    assert api.grant(sid, 1) == (409, {"error": body["refused"][0]["error"]})  # as the audio route refuses it


def test_a_half_of_a_window_whose_other_half_is_recorded_is_granted(handlers):  # noqa: F811
    api, completion = handlers
    sid = api.create("audio_video")
    record(completion, sid, 0)
    status, body = grant_many(api, sid, audio(0), frames_half(0))
    assert status == 200, body
    assert ([g["half"] for g in body["grants"]], [r["half"] for r in body["refused"]]) == (["frames"], ["audio"])


@pytest.mark.parametrize(
    ("uploads", "error"),
    [
        ([], "uploads: List should have at least 1 item after validation, not 0"),
        ([audio(w) for w in range(contract.MAX_GRANTS_PER_REQUEST + 1)],
         f"uploads: List should have at most {contract.MAX_GRANTS_PER_REQUEST} items after validation, not 33"),
        ([audio(0), audio(1, size=0)], "uploads[1].sizeBytes: Input should be greater than or equal to 1"),
        ([audio(0, size=contract.DEFAULT_MAX_AUDIO_BYTES + 1)],
         f"uploads[0].sizeBytes: must be an integer from 1 to {contract.DEFAULT_MAX_AUDIO_BYTES}"),
        ([audio(0), frames_half(0, frame_count=None)], "uploads[1].frameCount: Input should be a valid integer"),
        ([audio(0, frameCount=3)], "uploads[0].frameCount: Extra inputs are not permitted"),
        ([audio(layout.MAX_WINDOW_INDEX + 1)], "uploads[0].windowIndex: Input should be less than or equal to 99999"),
        ([audio(True)], "uploads[0].windowIndex: Input should be a valid integer"),
        ([audio(0, sha256="abc")], "uploads[0].sha256: must be the base64 encoding of a SHA-256 digest"),
        ([{**audio(0), "half": "video"}], "uploads[0]: Input tag 'video' found using 'half' does not match any of the "
                                          "expected tags: 'audio', 'frames'"),
        ([audio(2), frames_half(2), audio(2)], "uploads[2]: window 2's audio is asked for twice"),
    ],
    ids=["none", "too many", "size", "size over the half's limit", "frames without a count", "audio with a count",
         "window over the range", "window a boolean", "sha256", "unknown half", "twice"],
)
def test_invalid_input_in_any_half_refuses_the_whole_request_naming_its_position(handlers, uploads, error):  # noqa: F811
    api, _ = handlers
    sid = api.create("audio_video")
    assert grant_many(api, sid, *uploads) == (400, {"error": error})


def test_the_session_is_checked_as_the_halves_own_routes_check_it(handlers):  # noqa: F811
    api, _ = handlers
    sid = api.create()
    assert grant_many(api, sid, audio(0), user="mallory") == (404, {"error": "session not found"})
    assert grant_many(api, "not-a-session", audio(0)) == (404, {"error": "session not found"})
    assert grant_many(api, sid, audio(0), user=None)[0] == 401
    assert grant_many(api, sid, audio(0), frames_half(0)) == (
        400, {"error": "frames: this session's captureMode is audio_only, which records no frames"}
    )
    set_status(sid, "finalizing")
    assert grant_many(api, sid, audio(0)) == (409, {"error": "session is finalizing: it no longer accepts uploads"})


def test_a_full_batch_of_halves_already_recorded_reads_every_window(handlers):  # noqa: F811
    """The session and every window named in one BatchGetItem of up to 33 keys: none of them is missed."""
    api, completion = handlers
    sid = api.create()
    windows = range(contract.MAX_GRANTS_PER_REQUEST)
    record(completion, sid, *windows)
    status, body = grant_many(api, sid, *(audio(w) for w in windows))
    assert status == 200, body
    assert (body["grants"], [r["windowIndex"] for r in body["refused"]]) == ([], list(windows))
