"""S3 security baseline: every bucket is private, encrypted, owner-enforced, TLS and SigV4 only, and expires data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.common import MANDATORY, as_list, depends_on, dig, of_type, statements

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"

PUBLIC_ACCESS_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
SIGV4 = "AWS4-HMAC-SHA256"

# A bucket's settings are separate resources; each check reads the ones attached to one bucket.
BucketCheck = Callable[[PolicyResource, list[PolicyResource]], str | None]


def _per_bucket(setting_type: str, check: BucketCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = of_type(args.resources, setting_type)
        for bucket in of_type(args.resources, BUCKET):
            attached = [s for s in settings if depends_on(s, bucket, "bucket")]
            problem = check(bucket, attached)
            if problem:
                report_violation(f"bucket '{bucket.name}' {problem}", bucket.urn)

    return validate


def _public_access_block(bucket: PolicyResource, blocks: list[PolicyResource]) -> str | None:
    if not blocks:
        return "has no BucketPublicAccessBlock."
    if any(all(b.props.get(k) is True for k in PUBLIC_ACCESS_SETTINGS) for b in blocks):
        return None
    off = [k for k in PUBLIC_ACCESS_SETTINGS if blocks[0].props.get(k) is not True]
    return f"has a public access block without {off} set to true."


s3_public_access_block = StackValidationPolicy(
    name="s3-public-access-block",
    description="Every bucket has a public access block with all four settings on.",
    enforcement_level=MANDATORY,
    validate=_per_bucket(PUBLIC_ACCESS_BLOCK, _public_access_block),
)


def _encryption(bucket: PolicyResource, configs: list[PolicyResource]) -> str | None:
    algorithms = [dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                  for c in configs for rule in as_list(c.props.get("rules"))]
    if not any(a in SSE_ALGORITHMS for a in algorithms):
        return f"has no server-side encryption configuration with an algorithm in {list(SSE_ALGORITHMS)}."
    return None


s3_encryption = StackValidationPolicy(
    name="s3-encryption",
    description="Every bucket has a default server-side encryption configuration.",
    enforcement_level=MANDATORY,
    validate=_per_bucket(ENCRYPTION, _encryption),
)


def _ownership(bucket: PolicyResource, controls: list[PolicyResource]) -> str | None:
    if not any(dig(c.props, "rule", "objectOwnership") == "BucketOwnerEnforced" for c in controls):
        return "has no ownership controls with objectOwnership 'BucketOwnerEnforced' (ACLs disabled)."
    return None


s3_ownership_enforced = StackValidationPolicy(
    name="s3-ownership-enforced",
    description="Every bucket enforces bucket-owner object ownership, which disables ACLs.",
    enforcement_level=MANDATORY,
    validate=_per_bucket(OWNERSHIP, _ownership),
)


def _lifecycle(bucket: PolicyResource, configs: list[PolicyResource]) -> str | None:
    rules = [r for c in configs for r in as_list(c.props.get("rules")) if isinstance(r, Mapping)]
    if not any(r.get("status") == "Enabled" for r in rules):
        return "has no enabled lifecycle rule."
    return None


s3_lifecycle_rule = StackValidationPolicy(
    name="s3-lifecycle-rule",
    description="Every bucket has at least one enabled lifecycle rule, so that data does not live forever.",
    enforcement_level=MANDATORY,
    validate=_per_bucket(LIFECYCLE, _lifecycle),
)


def _denies_everyone_everything(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    # "*", {"AWS": "*"} and {"*": "*"} all name every principal (the provider renders type "*" as plain "*").
    everyone = principal == "*" or any("*" in as_list(dig(principal, key)) for key in ("AWS", "*"))
    actions = {a.lower() for a in as_list(statement.get("Action")) if isinstance(a, str)}
    resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
    # The bucket itself (listing) and its objects (reads, the presigned PUTs).
    covers = any(r.endswith("/*") or r == "*" for r in resources) and any(not r.endswith("/*") for r in resources)
    return statement.get("Effect") == "Deny" and everyone and bool(actions & {"s3:*", "*"}) and covers


def _condition(statement: Mapping[str, Any], operator: str, key: str) -> list[str]:
    """The values of one condition, keys compared case-insensitively as IAM does."""
    for op, keys in (statement.get("Condition") or {}).items():
        if op.lower() == operator.lower() and isinstance(keys, Mapping):
            for k, values in keys.items():
                if k.lower() == key.lower():
                    return [str(v).lower() for v in as_list(values)]
    return []


def _tls_and_sigv4(bucket: PolicyResource, policies: list[PolicyResource]) -> str | None:
    denies = [s for p in policies for s in statements(p.props.get("policy")) if _denies_everyone_everything(s)]
    missing = []
    if not any(_condition(s, "Bool", "aws:SecureTransport") == ["false"] for s in denies):
        missing.append("a Deny of s3:* to everyone on the bucket and its objects when aws:SecureTransport is false")
    if not any(_condition(s, "StringNotEquals", "s3:signatureversion") == [SIGV4.lower()] for s in denies):
        missing.append(f"a Deny of s3:* to everyone on the bucket and its objects when s3:signatureversion "
                       f"is not {SIGV4}")
    return f"has a bucket policy without {' nor '.join(missing)}." if missing else None


s3_tls_and_sigv4_only = StackValidationPolicy(
    name="s3-tls-and-sigv4-only",
    description="Every bucket's policy denies requests made without TLS or signed with anything but SigV4.",
    enforcement_level=MANDATORY,
    validate=_per_bucket(BUCKET_POLICY, _tls_and_sigv4),
)


def _notification_filtered(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == NOTIFICATION:
        for kind in ("lambdaFunctions", "queues", "topics"):
            for index, target in enumerate(as_list(args.props.get(kind))):
                missing = [f for f in ("filterPrefix", "filterSuffix") if not dig(target, f)]
                if missing:
                    report_violation(f"{kind}[{index}] has no {' and no '.join(missing)}: it fires on objects "
                                     f"outside the key layout.", None)
    elif args.resource_type == EVENT_RULE:
        pattern = args.props.get("eventPattern")
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except ValueError:
                pattern = None
        if "aws.s3" not in as_list(dig(pattern, "source")):
            return
        matchers = as_list(dig(pattern, "detail", "object", "key"))
        if not matchers or not all(_prefix_and_suffix(m) for m in matchers):
            report_violation(f"the rule matches S3 object keys {matchers or 'of any kind'}; match them with an "
                             f"exact key or a wildcard that fixes both a prefix and a suffix.", None)


def _prefix_and_suffix(matcher: Any) -> bool:
    """An EventBridge key matcher that cannot match keys outside one prefix and one suffix."""
    if isinstance(matcher, str):
        return True
    wildcard = dig(matcher, "wildcard")
    return isinstance(wildcard, str) and not wildcard.startswith("*") and not wildcard.endswith("*")


s3_notification_filtered = ResourceValidationPolicy(
    name="s3-notification-filtered",
    description="Every S3 event trigger filters object keys on both a prefix and a suffix, never the whole bucket.",
    enforcement_level=MANDATORY,
    validate=_notification_filtered,
)

POLICIES = [
    s3_public_access_block,
    s3_encryption,
    s3_tls_and_sigv4_only,
    s3_ownership_enforced,
    s3_lifecycle_rule,
    s3_notification_filtered,
]
