"""The local stack, one per test module, with short retry delays, claim lease and finalizing timeout; and helpers
to drive it over HTTP."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from devstack.stack import DevStack

RETRY_DELAYS = (0.2, 0.4)
CLAIM_LEASE_SECONDS = 2
FINALIZING_TIMEOUT_SECONDS = 2  # a sweep right after complete leaves the session alone; one after this marks it


@contextlib.contextmanager
def running_stack(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[DevStack]:
    """A local stack with these short retry delays, claim lease and finalizing timeout, and DevStack's `options`."""
    with DevStack(
        retry_delays=RETRY_DELAYS,
        claim_lease_seconds=CLAIM_LEASE_SECONDS,
        finalizing_timeout_seconds=FINALIZING_TIMEOUT_SECONDS,
        state_dir=tmp_path_factory.mktemp("devstack"),
        **options,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One stack per test process (moto runs in its own process: the in-process mocks of other tests never touch
    it). Tests share it as users share a deployment: each works in sessions of its own, and clears its faults."""
    with running_stack(tmp_path_factory) as running:
        yield running


@pytest.fixture
def faults(stack):
    """The stack's fault hooks, given once the work earlier tests left in flight (a retry waiting) is done, so that
    none of it takes a fault meant for this test; cleared after the test so that none leaks into the next."""
    stack.wait_idle()
    yield stack.faults
    stack.faults.reset()


class Api:
    """The HTTP API as a client sees it, for one user."""

    def __init__(self, stack: DevStack, user: str = "alice"):
        self.url = stack.api_url
        self.headers = {"Authorization": f"Bearer {stack.token(user=user)}"}

    def create_session(self) -> str:
        response = requests.post(f"{self.url}/sessions", json={"captureMode": "audio_only"}, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()["sessionId"]

    def grant_response(self, session_id: str, window: int, body: bytes) -> requests.Response:
        return requests.post(
            f"{self.url}/sessions/{session_id}/audio",
            params={"windowIndex": window},
            json={"sizeBytes": len(body), "sha256": sha256_b64(body)},
            headers=self.headers,
        )

    def grant(self, session_id: str, window: int, body: bytes) -> dict:
        response = self.grant_response(session_id, window, body)
        assert response.status_code == 200, response.text
        return response.json()

    def upload(self, session_id: str, window: int, body: bytes) -> None:
        """Grant and PUT one window through the presign gate, as the client does."""
        put(self.grant(session_id, window, body), body)

    def complete(self, session_id: str, expected_window_count: int) -> requests.Response:
        return requests.post(
            f"{self.url}/sessions/{session_id}/complete",
            json={"expectedWindowCount": expected_window_count},
            headers=self.headers,
        )

    def status(self, session_id: str) -> dict:
        response = requests.get(f"{self.url}/sessions/{session_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


def put(grant: dict, body: bytes) -> None:
    """PUT the body to a granted URL with exactly the granted headers; the gate must accept it."""
    response = requests.put(grant["url"], data=body, headers=grant["headers"], timeout=10)
    assert response.status_code == 200, response.text


def sha256_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def refuses(url: str) -> bool:
    """Whether nothing listens at the URL's port any more (a connection reset while its server exits: not yet)."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    return False


def s3_error(response: requests.Response) -> tuple[str, str]:
    """(Code, Message) of an S3 XML error document."""
    root = ET.fromstring(response.content)
    return root.findtext("Code"), root.findtext("Message")


@pytest.fixture
def api(stack) -> Api:
    return Api(stack)


def dead_letters_for(stack: DevStack, session_id: str) -> list[dict]:
    """The DLQ's records of the session's events (the stack is shared: other tests' are there too)."""
    return [
        record
        for record in stack.dlq_messages()
        if any(session_id in r["s3"]["object"]["key"] for r in record["requestPayload"]["Records"])
    ]
