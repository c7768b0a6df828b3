"""The v2 read routes under moto: the status as counts and ranges, and per-window detail paged in window order."""


import pytest

from devstack import s3events, samples
from handlers import layout
from tests.conftest import BUCKET, load_handler
from tests.handlers.conftest import Api, LambdaContext, upload


@pytest.fixture(scope="module")
def handlers(aws_module):
    completion = load_handler("handlers.upload_complete.app")
    completion.ingest._client = type("Accepting", (), {"invoke": lambda self, **_: {"StatusCode": 202}})()
    return Api(load_handler("handlers.api.app")), completion


def record(completion, session_id, *windows):
    records = [
        s3events.notification_record(BUCKET, upload(layout.audio_key(session_id, w)), size=100 + w, etag=f"e{w}")
        for w in windows
    ]
    completion.lambda_handler(s3events.notification(*records), LambdaContext())


def test_the_status_lists_windows_as_ranges_and_counts(handlers):
    api, completion = handlers
    sid = api.create()
    record(completion, sid, 0, 1, 2, 5, 9, 12)
    assert api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 10})[0] == 202
    status, body = api.call("GET", f"/sessions/{sid}")
    assert status == 200
    assert body["counts"] == {"audio": 6, "frames": 0, "recorded": 6, "ingested": 6, "invalid": 0}
    assert body["recordedWindows"] == body["ingestedWindows"] == [[0, 2], [5, 5], [9, 9], [12, 12]]
    assert body["missingWindows"] == [[3, 4], [6, 8]]
    assert body["unexpectedWindows"] == [[12, 12]]
    assert (body["status"], body["invalidWindows"]) == ("finalizing", [])


def test_the_windows_route_pages_in_window_order(handlers):
    api, completion = handlers
    sid = api.create()
    windows = [0, 1, 2, 7, 8, 40, 41, 99_999]
    record(completion, sid, *windows)
    seen, start, pages = [], 0, 0
    while start is not None:
        status, body = api.call("GET", f"/sessions/{sid}/windows", query={"from": str(start), "limit": "3"})
        assert status == 200 and len(body["windows"]) <= 3
        seen += body["windows"]
        start, pages = body["next"], pages + 1
    assert [w["windowIndex"] for w in seen] == windows and pages == 3
    first = seen[0]
    assert first["audio"]["sizeBytes"] == len(samples.wav_bytes()) and first["audio"]["etag"]
    assert first["audio"]["format"] == {"sampleRate": 16000, "channels": 1, "bitsPerSample": 16, "durationSeconds": 0.05}
    assert (first["frames"], first["recorded"], first["ingested"], first["invalid"]) == (None, True, True, None)
    status, body = api.call("GET", f"/sessions/{sid}/windows", query={"from": "41"})
    assert [w["windowIndex"] for w in body["windows"]] == [41, 99_999] and body["next"] is None


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"from": "-1"}, "from"),
        ({"from": str(layout.MAX_WINDOW_INDEX + 1)}, "from"),
        ({"from": "x"}, "from"),
    ],
)
def test_the_windows_route_refuses_bad_paging_with_a_400_naming_the_field(handlers, query, field):
    api, _ = handlers
    sid = api.create()
    status, body = api.call("GET", f"/sessions/{sid}/windows", query=query)
    assert status == 400 and body["error"].startswith(f"{field}:"), body


def test_the_windows_of_another_users_session_are_not_found(handlers):
    api, _ = handlers
    sid = api.create(user="alice")
    assert api.call("GET", f"/sessions/{sid}/windows", user="mallory") == (404, {"error": "session not found"})


def test_the_last_window_of_the_layout_is_granted_and_the_next_refused_naming_the_range(handlers):
    api, _ = handlers
    sid = api.create()
    status, grant = api.grant(sid, layout.MAX_WINDOW_INDEX)
    assert status == 200 and grant["s3Key"] == layout.audio_key(sid, 99_999)
    assert layout.parse_key(grant["s3Key"]) == (sid, 99_999, layout.Media.AUDIO)
    status, body = api.grant(sid, layout.MAX_WINDOW_INDEX + 1)
    assert status == 400 and "windowIndex" in body["error"] and "99999" in body["error"], body


def test_a_recorded_half_is_not_granted_again_but_a_refused_one_is(handlers):
    api, completion = handlers
    sid = api.create()
    record(completion, sid, 0)
    status, body = api.grant(sid, 0)
    assert (status, body) == (409, {"error": "window 0: its audio is already recorded"})
    key = upload(layout.audio_key(sid, 1), body=b"not a WAV")
    completion.lambda_handler(s3events.notification(s3events.notification_record(BUCKET, key)), LambdaContext())
    status, body = api.call("GET", f"/sessions/{sid}/windows", query={"from": "1"})
    assert body["windows"][0]["invalid"] == "audio: not a RIFF/WAVE file"
    assert api.call("GET", f"/sessions/{sid}")[1]["invalidWindows"] == [[1, 1]]
    assert api.grant(sid, 1)[0] == 200  # the client may upload the refused window again
