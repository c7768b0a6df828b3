"""Write-once grants over real HTTP: the gate answers as S3 does to a second PUT of a key, to a signed header left
out or changed, to an x-amz-* header that was not signed, and to a SigV2 URL; and a PUT as granted still passes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config

from devstack import samples
from handlers import layout
from tests.e2e.conftest import s3_error

BODY = samples.wav_bytes()
OTHER_BODY = samples.wav_bytes(frequency=880)  # same length, other bytes


def _s3(stack):
    return stack.client("s3")


def _stored_keys(stack, session_id: str) -> list[str]:
    listed = _s3(stack).list_objects_v2(Bucket=stack.names.bucket, Prefix=layout.session_prefix(session_id))
    return [item["Key"] for item in listed.get("Contents", [])]


def _error_field(response: requests.Response, name: str) -> str | None:
    return ET.fromstring(response.content).findtext(name)


def test_a_put_as_granted_is_accepted_and_ingested_once(stack, api):
    session_id = api.create_session()
    grant = api.grant(session_id, 0, BODY)
    assert grant["headers"]["If-None-Match"] == "*"

    response = requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10)

    assert response.status_code == 200, response.text
    stack.wait_idle()
    stored = _s3(stack).get_object(Bucket=stack.names.bucket, Key=layout.audio_key(session_id, 0))
    assert stored["Body"].read() == BODY
    assert stack.ingest_counts(session_id) == {0: 1}


def test_a_second_put_of_a_granted_key_is_refused_with_412_and_changes_nothing(stack, api, faults):
    session_id = api.create_session()
    key = layout.audio_key(session_id, 0)
    # Two grants of the same window before either PUT: the API cannot know yet that the window will be recorded.
    first, second = api.grant(session_id, 0, BODY), api.grant(session_id, 0, OTHER_BODY)
    assert requests.put(first["url"], data=BODY, headers=first["headers"], timeout=10).status_code == 200
    stack.wait_idle()
    etag = _s3(stack).head_object(Bucket=stack.names.bucket, Key=key)["ETag"]
    # Any completion invocation from here on would consume this fault: one left pending means none ran.
    faults.fail_completion(1)

    attempts = {
        "another grant, other bytes": requests.put(
            second["url"], data=OTHER_BODY, headers=second["headers"], timeout=10
        ),
        "the same grant again (a retry)": requests.put(first["url"], data=BODY, headers=first["headers"], timeout=10),
    }

    for case, response in attempts.items():
        assert response.status_code == 412, (case, response.text)
        assert s3_error(response) == (
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        assert _error_field(response, "Condition") == "If-None-Match", case
    stack.wait_idle()
    stored = _s3(stack).get_object(Bucket=stack.names.bucket, Key=key)
    assert (stored["ETag"], stored["Body"].read()) == (etag, BODY)
    assert faults.pending("completion") == 1, "a refused PUT emitted an object-created event"
    assert stack.ingest_counts(session_id) == {0: 1}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda headers: {k: v for k, v in headers.items() if k != "If-None-Match"}, id="left-out"),
        pytest.param(lambda headers: headers | {"If-None-Match": '"0123456789abcdef0123456789abcdef"'}, id="changed"),
    ],
)
def test_the_write_once_header_left_out_or_changed_breaks_the_signature(stack, api, change):
    session_id = api.create_session()
    grant = api.grant(session_id, 0, BODY)

    response = requests.put(grant["url"], data=BODY, headers=change(grant["headers"]), timeout=10)

    assert response.status_code == 403, response.text
    assert s3_error(response)[0] == "SignatureDoesNotMatch"
    assert _stored_keys(stack, session_id) == [], "moto stores an unconditional PUT: the gate must not forward it"
    # The same grant, used as granted, is accepted: the refusal was the header's doing.
    assert requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10).status_code == 200


@pytest.mark.parametrize(
    "extra, named",
    [
        ({"x-amz-meta-foo": "bar"}, "x-amz-meta-foo"),
        ({"X-Amz-Meta-Foo": "bar"}, "x-amz-meta-foo"),
        ({"x-amz-acl": "public-read", "x-amz-storage-class": "GLACIER"}, "x-amz-acl, x-amz-storage-class"),
    ],
    ids=["metadata", "metadata-capitalised", "acl-and-storage-class"],
)
def test_an_amz_header_that_was_not_signed_is_refused_with_403(stack, api, extra, named):
    session_id = api.create_session()
    grant = api.grant(session_id, 0, BODY)

    response = requests.put(grant["url"], data=BODY, headers=grant["headers"] | extra, timeout=10)

    assert response.status_code == 403, response.text
    assert s3_error(response) == ("AccessDenied", "There were headers present in the request which were not signed")
    assert _error_field(response, "HeadersNotSigned") == named
    assert _stored_keys(stack, session_id) == []
    assert requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10).status_code == 200


def _sigv2_url(stack, session_id: str) -> str:
    """A SigV2 presigned PUT, validly signed with the stack's own credentials."""
    signer = boto3.client(
        "s3",
        endpoint_url=stack.s3_endpoint,
        region_name=stack.region,
        aws_access_key_id=stack.credentials.access_key,
        aws_secret_access_key=stack.credentials.secret_key,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}),
    )
    params = {"Bucket": stack.names.bucket, "Key": layout.audio_key(session_id, 0), "ContentType": "audio/wav"}
    url = signer.generate_presigned_url("put_object", Params=params, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url and "X-Amz-" not in url
    return url


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda url: url, "Access Denied"),
        (
            lambda url: url.replace("Signature=", "Unsigned="),
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ),
    ],
    ids=["valid-sigv2", "incomplete-sigv2"],
)
def test_a_sigv2_presigned_url_is_refused_with_403(stack, api, mangle, message):
    session_id = api.create_session()

    response = requests.put(
        mangle(_sigv2_url(stack, session_id)), data=BODY, headers={"Content-Type": "audio/wav"}, timeout=10
    )

    assert response.status_code == 403, response.text
    assert s3_error(response) == ("AccessDenied", message)
    stack.wait_idle()
    assert _stored_keys(stack, session_id) == []
    assert stack.ingest_counts(session_id) == {}


def test_a_url_signed_by_a_key_the_stack_does_not_know_is_refused_with_403_invalid_access_key(stack, api):
    session_id = api.create_session()
    stranger = boto3.session.Session("AKIASTRANGER00000000", "not-a-key-of-this-stack", region_name=stack.region)
    url = stranger.client("s3", endpoint_url=stack.s3_endpoint, config=Config(signature_version="s3v4")).generate_presigned_url(
        "put_object", Params={"Bucket": stack.names.bucket, "Key": layout.audio_key(session_id, 0)}, ExpiresIn=60)

    response = requests.put(url, data=BODY, timeout=10)

    assert (response.status_code, s3_error(response)[0]) == (403, "InvalidAccessKeyId")
    assert _stored_keys(stack, session_id) == []
