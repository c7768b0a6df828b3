"""The session bucket: private, owner-enforced, encrypted, expiring, TLS- and SigV4-only, CORS for browser PUTs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers import cors, layout

TYPE = "session-uploads:index:Storage"


@dataclass
class StorageArgs:
    retention_days: int
    """Session objects (and ingest records) expire this many days after they are written."""
    kms_key_arn: pulumi.Input[str] | None = None
    """SSE-KMS with this key; SSE-S3 when None."""
    cors_allowed_origins: Sequence[str] = ()
    """Browser origins allowed to PUT with a granted URL; no CORS rule when empty."""


class Storage(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(f"{name}-bucket", aws.s3.BucketArgs(force_destroy=False), opts=child)
        bucket_id = self.bucket.id
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(bucket=bucket_id, block_public_acls=True, block_public_policy=True,
                                               ignore_public_acls=True, restrict_public_buckets=True),
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket_id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            opts=child,
        )
        if args.kms_key_arn is None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256")
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            # Named *InitArgs: the Bucket's nested input type already holds the *Args name in pulumi-aws 7.
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                bucket=bucket_id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=args.kms_key_arn is not None,  # fewer KMS calls per object
                )],
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                bucket=bucket_id,
                rules=[
                    self._expire("expire-sessions", layout.SESSIONS_PREFIX, args.retention_days),
                    self._expire("expire-ingest-records", layout.INGEST_RECORDS_PREFIX, args.retention_days),
                    self._expire("expire-quarantine", layout.QUARANTINE_PREFIX, args.retention_days),
                ],
            ),
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            aws.s3.BucketPolicyArgs(bucket=bucket_id, policy=self._deny_insecure_requests()),
            # S3 rejects a policy write that races the public access block on a new bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        if args.cors_allowed_origins:
            aws.s3.BucketCorsConfiguration(
                f"{name}-cors",
                aws.s3.BucketCorsConfigurationArgs(
                    bucket=bucket_id,
                    cors_rules=[
                        aws.s3.BucketCorsConfigurationCorsRuleArgs(
                            allowed_methods=rule["AllowedMethods"],
                            allowed_origins=rule["AllowedOrigins"],
                            allowed_headers=rule["AllowedHeaders"],
                            expose_headers=rule["ExposeHeaders"],
                            max_age_seconds=rule["MaxAgeSeconds"],
                        )
                        for rule in cors.bucket_cors_rules(args.cors_allowed_origins)
                    ],
                ),
                opts=child,
            )

        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"bucketName": self.name, "bucketArn": self.arn})

    @staticmethod
    def _expire(rule_id: str, prefix: str, days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
        return aws.s3.BucketLifecycleConfigurationRuleArgs(
            id=rule_id,
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=1),
        )

    def _deny_insecure_requests(self) -> pulumi.Output[str]:
        everyone = [aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="*", identifiers=["*"])]
        resources = [self.bucket.arn, self.bucket.arn.apply(lambda arn: layout.objects_arn(arn, ""))]
        return aws.iam.get_policy_document_output(statements=[
            aws.iam.GetPolicyDocumentStatementArgs(
                sid="DenyInsecureTransport", effect="Deny", principals=everyone, actions=["s3:*"],
                resources=resources,
                conditions=[aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="Bool", variable="aws:SecureTransport", values=["false"])],
            ),
            # Presigned URLs must be SigV4: SigV2 binds neither Content-Length nor most headers of a grant.
            aws.iam.GetPolicyDocumentStatementArgs(
                sid="DenyNonSigV4", effect="Deny", principals=everyone, actions=["s3:*"], resources=resources,
                conditions=[aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringNotEquals", variable="s3:signatureversion", values=["AWS4-HMAC-SHA256"])],
            ),
        ]).json
