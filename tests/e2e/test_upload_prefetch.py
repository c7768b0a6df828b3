"""upload_dir's grant prefetch against the presign gate of a stack whose URLs live 2 s: grants held past their URL's
life while an earlier PUT is slow never fail a window, even with no retries to spend."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest

from client import UploadClient
from devstack import samples
from devstack.demo import write_windows
from tests.e2e.conftest import Api, running_stack
from tests.e2e.test_upload_client import assert_ingested_exactly_once

URL_SECONDS = 2
WINDOWS = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory, url_expires_seconds=URL_SECONDS) as running:
        yield running


def test_grants_that_outlived_their_urls_while_a_put_was_slow_are_asked_for_again(stack, tmp_path):
    write_windows(tmp_path, WINDOWS, seconds=0.25)
    slowed: list[int] = []

    def slow_first_put(sent: int, _total: int) -> None:
        if sent and not slowed:  # window 0's PUT, part-way: the grants prefetched meanwhile outlive their URLs
            slowed.append(sent)
            time.sleep(URL_SECONDS + 0.5)

    with UploadClient(stack.api_url, stack.token(user="alice"), retries=0) as client:
        session = client.create_session("audio_only")["sessionId"]
        result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=2, progress=slow_first_put)

        assert slowed, "no PUT was slowed"
        assert result.ok and result.uploaded == list(range(WINDOWS)), result.failed
        assert_ingested_exactly_once(stack, client, session, WINDOWS)


def test_a_put_that_started_before_its_url_expired_is_stored_however_long_its_body_takes(stack):
    """S3 judges expiry when the request arrives: a body still streaming past the URL's expiry is accepted."""
    api = Api(stack)
    session_id = api.create_session()
    body = samples.wav_bytes()
    grant = api.grant(session_id, 0, body)

    url = urlsplit(grant["url"])
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("PUT", f"{url.path}?{url.query}")
    for name, value in {**grant["headers"], "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders(body[:100])
    time.sleep(URL_SECONDS + 0.5)  # the URL expires while the body is on its way
    connection.send(body[100:])
    response = connection.getresponse()

    assert response.status == 200, response.read()
    connection.close()
    stack.wait_idle()
    assert stack.ingest_counts(session_id) == {0: 1}
