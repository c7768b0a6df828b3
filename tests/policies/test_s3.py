"""S3 policies: each bucket's settings resources, its bucket policy, and its event triggers."""

from __future__ import annotations

import json

import pytest

from policies.s3 import (
    BUCKET,
    BUCKET_POLICY,
    ENCRYPTION,
    EVENT_RULE,
    LIFECYCLE,
    NOTIFICATION,
    OWNERSHIP,
    PUBLIC_ACCESS_BLOCK,
    s3_encryption,
    s3_lifecycle_rule,
    s3_notification_filtered,
    s3_ownership_enforced,
    s3_public_access_block,
    s3_tls_and_sigv4_only,
)
from tests.policies.support import document, resource, validate_resource, validate_stack

ARN = "arn:aws:s3:::uploads"
ALL_ON = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)


def _deny(condition: dict) -> dict:
    return {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [ARN, f"{ARN}/*"],
            "Condition": condition}


TLS = _deny({"Bool": {"aws:SecureTransport": "false"}})
SIGV4 = _deny({"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}})

# policy, setting type, inputs of a compliant setting, inputs of a violating one, inputs missing the property
CASES = {
    "public-access-block": (s3_public_access_block, PUBLIC_ACCESS_BLOCK, ALL_ON,
                            {**ALL_ON, "restrictPublicBuckets": False}, {k: True for k in list(ALL_ON)[:3]}),
    "encryption": (s3_encryption, ENCRYPTION,
                   {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
                   {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}]},
                   {"rules": [{"bucketKeyEnabled": True}]}),
    "ownership": (s3_ownership_enforced, OWNERSHIP, {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
                  {"rule": {"objectOwnership": "ObjectWriter"}}, {"rule": {}}),
    "lifecycle": (s3_lifecycle_rule, LIFECYCLE,
                  {"rules": [{"id": "expire", "status": "Enabled", "expiration": {"days": 30}}]},
                  {"rules": [{"id": "expire", "status": "Disabled", "expiration": {"days": 30}}]}, {"rules": []}),
    "tls-and-sigv4": (s3_tls_and_sigv4_only, BUCKET_POLICY, {"policy": document(TLS, SIGV4)},
                      {"policy": document(TLS, {**SIGV4, "Effect": "Allow"})}, {}),
}


def _bucket_with(setting_type: str, props: dict | None):
    bucket = resource(BUCKET, "uploads")
    settings = [] if props is None else [resource(setting_type, "uploads-setting", {"bucket": "b", **props}, [bucket])]
    return bucket, [bucket, *settings]


@pytest.mark.parametrize("case", CASES)
def test_a_bucket_with_the_setting_passes(case):
    policy, setting_type, good, _, _ = CASES[case]
    assert validate_stack(policy, _bucket_with(setting_type, good)[1]) == []


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("variant", ["violating", "missing-property", "absent"])
def test_a_bucket_without_the_setting_is_reported_on_the_bucket(case, variant):
    policy, setting_type, _, bad, missing = CASES[case]
    props = {"violating": bad, "missing-property": missing, "absent": None}[variant]
    bucket, resources = _bucket_with(setting_type, props)
    [(message, urn)] = validate_stack(policy, resources)
    assert urn == bucket.urn and "uploads" in message


@pytest.mark.parametrize("case", CASES)
def test_a_setting_of_another_bucket_does_not_count(case):
    policy, setting_type, good, _, _ = CASES[case]
    _, resources = _bucket_with(setting_type, None)
    other = resource(BUCKET, "other")
    resources += [other, resource(setting_type, "other-setting", good, [other])]
    assert [urn for _, urn in validate_stack(policy, resources)] == [resources[0].urn]


@pytest.mark.parametrize("everyone", ["*", {"AWS": "*"}, {"*": "*"}, {"AWS": ["*"]}])
def test_every_spelling_of_every_principal_counts(everyone):
    statements = [{**s, "Principal": everyone} for s in (TLS, SIGV4)]
    assert validate_stack(s3_tls_and_sigv4_only, _bucket_with(BUCKET_POLICY, {"policy": document(*statements)})[1]) == []


def test_the_bucket_policy_may_arrive_as_a_mapping():
    _, resources = _bucket_with(BUCKET_POLICY, {"policy": document(TLS, SIGV4, as_json=False)})
    assert validate_stack(s3_tls_and_sigv4_only, resources) == []


@pytest.mark.parametrize("weakened", [
    {**TLS, "Resource": f"{ARN}/*"},  # the bucket itself (listing) stays reachable over plain HTTP
    {**TLS, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
    {**TLS, "Action": "s3:GetObject"},
], ids=["objects-only", "one-principal", "one-action"])
def test_a_narrowed_tls_deny_is_reported(weakened):
    _, resources = _bucket_with(BUCKET_POLICY, {"policy": document(weakened, SIGV4)})
    [(message, _)] = validate_stack(s3_tls_and_sigv4_only, resources)
    assert "aws:SecureTransport" in message and "signatureversion" not in message


def _notification(**target):
    return {"bucket": "uploads", "lambdaFunctions": [{"lambdaFunctionArn": "arn:fn", "events": ["s3:ObjectCreated:*"],
                                                      **target}]}


def test_a_notification_filtered_on_prefix_and_suffix_passes():
    props = _notification(filterPrefix="sessions/", filterSuffix="/audio.wav")
    assert validate_resource(s3_notification_filtered, NOTIFICATION, props) == []


def test_a_notification_filtered_on_the_prefix_only_is_reported():
    reported = validate_resource(s3_notification_filtered, NOTIFICATION, _notification(filterPrefix="sessions/"))
    assert len(reported) == 1 and "filterSuffix" in reported[0] and "filterPrefix" not in reported[0]


def test_a_notification_filtered_per_half_passes_and_any_unfiltered_target_is_reported():
    audio = {"lambdaFunctionArn": "arn:fn", "events": ["s3:ObjectCreated:*"], "filterPrefix": "sessions/",
             "filterSuffix": "/audio.wav"}
    frames = {**audio, "filterSuffix": "/frames.zip"}
    props = {"bucket": "uploads", "lambdaFunctions": [audio, frames]}
    assert validate_resource(s3_notification_filtered, NOTIFICATION, props) == []
    props["lambdaFunctions"][1] = {k: v for k, v in frames.items() if k != "filterSuffix"}
    [message] = validate_resource(s3_notification_filtered, NOTIFICATION, props)
    assert message.startswith("lambdaFunctions[1] has no filterSuffix")


def test_an_unfiltered_notification_is_reported():
    [message] = validate_resource(s3_notification_filtered, NOTIFICATION, _notification())
    assert "filterPrefix" in message and "filterSuffix" in message


def _rule(key_matchers=None) -> dict:
    detail = {"bucket": {"name": ["uploads"]}}
    if key_matchers is not None:
        detail["object"] = {"key": key_matchers}
    return {"eventPattern": json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail})}


def test_an_s3_event_rule_with_a_wildcard_fixing_prefix_and_suffix_passes():
    props = _rule([{"wildcard": "sessions/*/audio.wav"}])
    assert validate_resource(s3_notification_filtered, EVENT_RULE, props) == []


def test_an_s3_event_rule_with_a_wildcard_per_half_passes():
    props = _rule([{"wildcard": "sessions/*/audio.wav"}, {"wildcard": "sessions/*/frames.zip"}])
    assert validate_resource(s3_notification_filtered, EVENT_RULE, props) == []


@pytest.mark.parametrize("matchers", [
    [{"prefix": "sessions/"}], [{"wildcard": "sessions/*"}], [{"suffix": ".wav"}],
    [{"wildcard": "sessions/*/audio.wav"}, {"suffix": "/frames.zip"}],  # matchers of one field are OR-ed
])
def test_an_s3_event_rule_matching_an_open_set_of_keys_is_reported(matchers):
    assert validate_resource(s3_notification_filtered, EVENT_RULE, _rule(matchers))


def test_an_s3_event_rule_without_a_key_filter_is_reported():
    assert validate_resource(s3_notification_filtered, EVENT_RULE, _rule())


def test_a_rule_for_another_source_is_not_an_s3_trigger():
    props = {"eventPattern": json.dumps({"source": ["aws.ec2"]})}
    assert validate_resource(s3_notification_filtered, EVENT_RULE, props) == []
