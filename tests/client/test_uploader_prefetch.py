"""upload_dir's grant prefetch against the fake API and S3: grants asked for while earlier PUTs are in flight, no
further ahead than `prefetch`, asked for again when their URL is about to expire, and once more, at once, when S3 finds
it expired."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from client import UploadClient, uploader, window_filename
from client.windows import WindowBody
from tests.client.conftest import EXPIRED, TOKEN, frames_bundle, with_and_without_prefetch

AUDIO = b"RIFF" + bytes(range(256)) * 8


def write_windows(directory, count: int) -> None:
    for window in range(count):
        (directory / window_filename(window)).write_bytes(AUDIO + bytes([window]))


def granted(fake) -> list[int]:
    """The windows of the audio grants issued so far, in order."""
    with fake.lock:
        return [window for window, half, _ in fake.issued if half == "audio"]


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def put_with_last_grant(fake) -> bool:
    """Whether each window's PUT went to the URL of the last grant issued for it."""
    last = {window: signature for window, _, signature in fake.issued}
    return {int(put.path.split("/")[3]): put.query["X-Amz-Signature"] for put in fake.puts} == last


def test_grants_are_asked_for_while_a_put_is_in_flight_and_no_further_ahead_than_prefetch(
    fake, client, tmp_path, monkeypatch
):
    write_windows(tmp_path, 6)
    opened: list[str] = []

    class RecordingBody(WindowBody):
        def __init__(self, source) -> None:
            super().__init__(source)
            self.name = str(source).rsplit("/", 1)[-1]

        def _open(self):
            opened.append(self.name)
            return super()._open()

    monkeypatch.setattr(uploader, "WindowBody", RecordingBody)
    seen: dict[str, list] = {}

    def hold() -> None:  # window 0's PUT, in flight until the grants ahead of it are in
        wait_until(lambda: len(granted(fake)) >= 3)
        time.sleep(0.3)  # room for the prefetch to overstep its bound, were it to
        seen["grants"], seen["opened"] = sorted(granted(fake)), sorted(set(opened))

    fake.script("put", ("hold", hold))
    session = fake.new_session()
    result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=2)

    assert seen["grants"] == [0, 1, 2]
    assert seen["opened"] == [window_filename(w) for w in (0, 1, 2)]  # no file read further ahead
    assert result.ok and result.uploaded == list(range(6))
    assert fake.sessions[session] == set(range(6)) and put_with_last_grant(fake)


@pytest.mark.parametrize(
    ("later", "asked_again"),
    [(269, set()), (271, {1, 2}), (400, {1, 2})],
    ids=["fresh", "within-the-margin", "expired"],
)
def test_a_prefetched_grant_whose_url_is_about_to_expire_is_asked_for_again(fake, tmp_path, later, asked_again):
    """Grants live 300 s and the margin is 30 s: those of windows 1 and 2, asked for while window 0's PUT was in
    flight, are stale when the clock has moved on 270 s or more by the time their PUT is due."""
    write_windows(tmp_path, 4)
    now = [1000.0]

    def hold() -> None:
        wait_until(lambda: len(granted(fake)) >= 3)
        now[0] += later

    fake.script("put", ("hold", hold))
    session = fake.new_session()
    with UploadClient(fake.base_url, TOKEN, grant_margin=30, clock=lambda: now[0]) as client:
        result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=2)

    assert result.ok and fake.sessions[session] == {0, 1, 2, 3}
    assert Counter(granted(fake)) == {w: 2 if w in asked_again else 1 for w in range(4)}
    assert put_with_last_grant(fake)


def test_a_grant_whose_url_lives_less_than_twice_the_margin_is_not_stale_as_it_arrives(fake, client, tmp_path):
    write_windows(tmp_path, 4)
    fake.expires_in = 20  # under the 30 s margin: the margin is then half its life
    session = fake.new_session()

    assert client.upload_dir(session, tmp_path, concurrency=1, prefetch=2).ok
    assert sorted(granted(fake)) == [0, 1, 2, 3]


@pytest.mark.parametrize("expired_puts", [1, 2])
def test_a_put_refused_as_expired_asks_for_a_fresh_grant_once_at_once_without_spending_a_retry(
    fake, sleeps, tmp_path, expired_puts
):
    write_windows(tmp_path, 1)
    session = fake.new_session()
    fake.script("put", *[EXPIRED] * expired_puts)
    with UploadClient(fake.base_url, TOKEN, retries=0, sleep=sleeps.append) as client:
        result = client.upload_dir(session, tmp_path)

    assert granted(fake) == [0, 0] and sleeps == []
    if expired_puts == 1:
        assert result.ok and fake.sessions[session] == {0}
        assert put_with_last_grant(fake)
    else:  # the fresh grant's URL expired too: that is a failure like any other (and no retries are left)
        error = result.failed[0]
        assert (error.status, error.attempts) == (403, 2)
        assert str(error) == "window 0: HTTP 403: AccessDenied: Request has expired after 2 attempts"


def test_a_prefetched_grant_request_that_failed_is_the_first_attempt_and_retried_with_backoff(
    fake, client, sleeps, tmp_path
):
    write_windows(tmp_path, 2)
    session = fake.new_session()
    fake.script("grant", (503, {"message": "Service Unavailable"}))

    result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=1)  # one half a request: its own route

    assert result.ok and fake.sessions[session] == {0, 1}
    assert sorted(int(grant.query["windowIndex"]) for grant in fake.grants) == [0, 0, 1] and sleeps == [0.5]


@with_and_without_prefetch
def test_a_window_whose_audio_fails_sends_no_frames_and_the_others_go_on(fake, client, tmp_path, prefetch):
    for window in range(3):
        (tmp_path / window_filename(window)).write_bytes(AUDIO)
        (tmp_path / window_filename(window, "frames")).write_bytes(frames_bundle(2))
    session = fake.new_session(mode="audio_video")
    fake.refuse(0, "audio", 400, {"error": "sizeBytes: too big"})

    result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=prefetch)

    assert result.uploaded == [1, 2] and list(result.failed) == [0]
    assert result.failed[0].half == "audio"
    assert not [put for put in fake.puts if put.path.split("/")[3:] == ["0", "frames"]]


@pytest.mark.parametrize("prefetch", [1, None])
@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_every_window_is_settled_whatever_the_concurrency_and_prefetch(fake, client, tmp_path, concurrency, prefetch):
    """Windows whose first grant is refused drop their other half's grant, prefetched or not: nothing waits for it."""
    for window in range(8):
        (tmp_path / window_filename(window)).write_bytes(AUDIO)
        (tmp_path / window_filename(window, "frames")).write_bytes(frames_bundle(1 + window % 3))
    session = fake.new_session(mode="audio_video")
    for window in (0, 3, 4):
        fake.refuse(window, "audio", 400, {"error": "sizeBytes: too big"})

    result = client.upload_dir(session, tmp_path, concurrency=concurrency, prefetch=prefetch)

    assert sorted(result.failed) == [0, 3, 4] and result.uploaded == [1, 2, 5, 6, 7]
    assert fake.sessions[session] == set(result.uploaded)


def test_a_negative_prefetch_is_refused(fake, client, tmp_path):
    write_windows(tmp_path, 1)
    with pytest.raises(ValueError, match="prefetch must be 0 or more"):
        client.upload_dir(fake.new_session(), tmp_path, prefetch=-1)
    assert fake.requests == []


def test_the_prefetch_threads_end_with_upload_dir(fake, client, tmp_path):
    write_windows(tmp_path, 3)
    client.upload_dir(fake.new_session(), tmp_path, concurrency=2)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("grant-prefetch")]


def batch_windows(fake) -> list[list[tuple[int, str]]]:
    """The (window, half) pairs of each grants request, in the order they arrived."""
    return [[(u["windowIndex"], u["half"]) for u in json.loads(r.body)["uploads"]] for r in fake.batches]


def test_the_grants_are_asked_for_several_halves_a_request_each_half_once(fake, client, tmp_path):
    """At concurrency 8 (prefetch 16 by default), a grants request asks for 8 halves once there are places for them:
    32 halves in 4 requests."""
    for window in range(16):
        (tmp_path / window_filename(window)).write_bytes(AUDIO + bytes([window]))
        (tmp_path / window_filename(window, "frames")).write_bytes(frames_bundle(2))
    session = fake.new_session(mode="audio_video")

    result = client.upload_dir(session, tmp_path, concurrency=8)

    assert result.ok and fake.sessions[session] == set(range(16))
    batches = batch_windows(fake)
    assert (fake.grants, fake.frames_grants) == ([], [])  # none asked for on the halves' own routes
    assert sorted(pair for batch in batches for pair in batch) == [(w, h) for w in range(16) for h in ("audio", "frames")]
    assert [len(batch) for batch in batches] == [8, 8, 8, 8]
    assert put_with_last_grant(fake)


def test_grants_of_a_request_whose_urls_are_about_to_expire_are_asked_for_again_on_their_own_route(fake, tmp_path):
    """Windows 0 to 3 are granted two a request (prefetch 4); by the time the PUTs of 1 to 3 are due, 271 s later,
    their URLs have less than the 30 s margin to live: each is asked for again, and its PUT goes to the fresh URL."""
    write_windows(tmp_path, 6)
    now = [1000.0]

    def hold() -> None:
        wait_until(lambda: len(granted(fake)) >= 4)
        time.sleep(0.2)  # room for a request beyond the bound, were one asked for
        now[0] += 271

    fake.script("put", ("hold", hold))
    session = fake.new_session()
    with UploadClient(fake.base_url, TOKEN, grant_margin=30, clock=lambda: now[0]) as client:
        result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=4)

    assert result.ok and fake.sessions[session] == set(range(6))
    assert sorted(batch_windows(fake)[:2]) == [[(0, "audio"), (1, "audio")], [(2, "audio"), (3, "audio")]]
    assert [int(g.query["windowIndex"]) for g in fake.grants] == [1, 2, 3]
    assert Counter(granted(fake)) == {0: 1, 1: 2, 2: 2, 3: 2, 4: 1, 5: 1}
    assert put_with_last_grant(fake)


def test_a_grants_request_that_may_pass_is_each_halfs_first_attempt_retried_on_its_own_route(
    fake, client, sleeps, tmp_path
):
    write_windows(tmp_path, 4)
    session = fake.new_session()
    fake.script("grants", (503, {"message": "Service Unavailable"}))

    result = client.upload_dir(session, tmp_path, concurrency=4)

    assert result.ok and fake.sessions[session] == set(range(4))
    first = [window for window, _ in batch_windows(fake)[0]]
    assert sorted(int(g.query["windowIndex"]) for g in fake.grants) == first and sleeps == [0.5] * len(first)


@pytest.mark.parametrize(
    "refusal",
    [(400, {"error": "uploads[1].sizeBytes: must be an integer from 1 to 100"}), (404, {"message": "Not Found"})],
    ids=["a half refused", "no such route"],
)
def test_a_grants_request_refused_for_good_asks_each_half_on_its_own_route_so_only_the_bad_half_fails(
    fake, client, sleeps, tmp_path, refusal
):
    """A 400 names one half but refuses them all, and a deployment without the route answers 404 to any: each half is
    then asked for on its own, and gets its own answer."""
    write_windows(tmp_path, 4)
    session = fake.new_session()
    fake.script("grants", refusal)
    fake.refuse(1, "audio", 400, {"error": "sizeBytes: must be an integer from 1 to 100"})

    result = client.upload_dir(session, tmp_path, concurrency=4)

    assert batch_windows(fake) == [[(w, "audio") for w in range(4)]]  # the one request, refused
    assert sorted(int(g.query["windowIndex"]) for g in fake.grants) == [0, 1, 2, 3]
    assert list(result.failed) == [1] and result.failed[1].status == 400 and sleeps == []
    assert fake.sessions[session] == {0, 2, 3}


def test_the_first_halves_are_hashed_while_the_status_is_on_its_way_and_no_file_twice(fake, client, tmp_path, monkeypatch):
    write_windows(tmp_path, 6)
    session = fake.new_session(recorded={0})
    events: list[str] = []
    hashing = threading.Event()
    real_sha256 = WindowBody.sha256

    def sha256(body: WindowBody) -> str:
        events.append(body._path.name)
        hashing.set()
        return real_sha256(body)

    monkeypatch.setattr(WindowBody, "sha256", sha256)
    # The status answers once a file is being hashed (or after 5 s, too late for the test).
    fake.script("status", ("hold", lambda: hashing.wait(5) and events.append("status answered")))

    result = client.upload_dir(session, tmp_path, concurrency=2)

    assert result.ok and (result.uploaded, result.skipped) == ([1, 2, 3, 4, 5], [0])
    assert events[0] == window_filename(0) and "status answered" in events  # hashed in upload order, stored or not
    hashed = Counter(name for name in events if name != "status answered")
    assert {name: count for name, count in hashed.items() if name != window_filename(0)} == {
        window_filename(w): 1 for w in range(1, 6)
    }
    assert {window: body["sha256"] for window, body in fake.asked()} == {
        w: real_sha256(WindowBody(tmp_path / window_filename(w))) for w in range(1, 6)
    }
