"""UploadClient and write-once grants: If-None-Match sent as granted, and S3's 412 for a key already stored."""

from __future__ import annotations

import pytest

from client import Backoff, UploadClient, UploadError
from tests.client.conftest import EXPIRED, TOKEN

AUDIO = b"RIFF" + bytes(range(256)) * 40
PRECONDITION_FAILED = (
    412,
    "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>PreconditionFailed</Code>"
    "<Message>At least one of the pre-conditions you specified did not hold</Message>"
    "<Condition>If-None-Match</Condition></Error>",
)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake, sleeps):
    with UploadClient(fake.base_url, TOKEN, retries=3, backoff=Backoff(rand=lambda: 1.0), sleep=sleeps.append) as c:
        yield c


def test_the_put_carries_the_granted_if_none_match(fake, client):
    session = fake.new_session()
    headers = {"Content-Type": "audio/wav", "Content-Length": str(len(AUDIO)), "If-None-Match": "*"}
    url = f"{fake.base_url}/s3/{session}/0?X-Amz-Signature=write-once"
    fake.script("grant", (200, {"url": url, "s3Key": "k", "windowIndex": 0, "expiresIn": 300, "headers": headers}))

    client.upload_window(session, 0, AUDIO)

    (put,) = fake.puts
    assert put.headers["if-none-match"] == "*"


@pytest.mark.parametrize(
    "lost", ["drop", (500, "<Error><Code>InternalError</Code><Message>oops</Message></Error>")], ids=["drop", "s3-500"]
)
def test_a_412_after_a_put_whose_answer_was_lost_is_that_put_having_stored_the_window(fake, client, lost):
    session = fake.new_session()
    fake.script("put", lost, PRECONDITION_FAILED)

    result = client.upload_window(session, 3, AUDIO)

    assert (result.window, result.attempts) == (3, 2)
    assert len(fake.puts) == 2


@pytest.mark.parametrize("before", [[], [EXPIRED]], ids=["first-attempt", "after-an-answered-refusal"])
def test_a_412_when_no_put_of_ours_can_have_stored_the_window_is_an_error_not_retried(fake, client, sleeps, before):
    session = fake.new_session()
    fake.script("put", *before, PRECONDITION_FAILED)

    with pytest.raises(UploadError) as raised:
        client.upload_window(session, 5, AUDIO)

    error = raised.value
    assert (error.status, error.attempts) == (412, len(before) + 1)
    assert str(error).startswith("window 5: HTTP 412: the window is already stored (uploads are write-once)")
    assert len(fake.puts) == len(before) + 1 and len(sleeps) == len(before)
