"""Handler-layer fixtures: a Lambda context, and API calls as the deployed HTTP API would make them."""

import json
from dataclasses import dataclass, field
from uuid import uuid4

import boto3
import pytest

from devstack import samples
from devstack.apigw import http_api_event
from handlers import contract, layout
from tests.conftest import BUCKET, REGION, load_handler


@dataclass
class LambdaContext:
    function_name: str = "session-uploads-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:session-uploads-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid4()))


class Api:
    """Calls the API Lambda with payload-v2 events; `user=None` means no authorizer claims."""

    def __init__(self, module):
        self.module = module

    def call(self, method, path, *, body=None, query=None, user="alice", raw=False, headers=None):
        if body is not None and not raw:
            body = json.dumps(body)
        claims = {"sub": user} if user else None
        response = self.module.lambda_handler(
            http_api_event(method, path, query=query, body=body, claims=claims, headers=headers), LambdaContext()
        )
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else None

    def create(self, mode="audio_only", user="alice"):
        status, body = self.call("POST", "/sessions", body={"captureMode": mode}, user=user)
        assert status == 201, body
        return body["sessionId"]

    def grant(self, session_id, window, size=2048, sha256=None, user="alice"):
        body = {"sizeBytes": size} if sha256 is None else {"sizeBytes": size, "sha256": sha256}
        return self.call(
            "POST", f"/sessions/{session_id}/audio", query={"windowIndex": str(window)}, body=body, user=user
        )


@pytest.fixture(scope="module")
def api(aws_module):
    return Api(load_handler("handlers.api.app"))


def upload(key: str, body: bytes | None = None, frame_count: int = 30) -> str:
    """Put a half into the mocked bucket as a granted PUT would (a valid one unless `body` says otherwise)."""
    media = layout.parse_key(key).media
    metadata = {contract.FRAME_COUNT_METADATA: str(frame_count)} if media is layout.Media.FRAMES else {}
    if body is None:
        body = samples.wav_bytes() if media is layout.Media.AUDIO else samples.frames_zip(frame_count)
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)
    return key
