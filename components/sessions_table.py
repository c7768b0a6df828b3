"""The sessions table: on demand, point-in-time recovery, encrypted, rows expiring, the sweeper's sparse index."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers import contract

TYPE = "session-uploads:index:SessionsTable"


@dataclass
class SessionsTableArgs:
    deletion_protection: bool = False
    """Refuse DeleteTable (production)."""


class SessionsTable(pulumi.ComponentResource):
    table: aws.dynamodb.Table
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    pending_index_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SessionsTableArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            aws.dynamodb.TableArgs(
                billing_mode="PAY_PER_REQUEST",
                # A header item and an item per window under each session's partition (DESIGN.md, "Data model").
                hash_key=contract.TABLE_HASH_KEY,
                range_key=contract.TABLE_RANGE_KEY,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=contract.TABLE_HASH_KEY, type="S"),
                    aws.dynamodb.TableAttributeArgs(name=contract.TABLE_RANGE_KEY, type="S"),
                    aws.dynamodb.TableAttributeArgs(name=contract.PENDING_INDEX_HASH_KEY, type="S"),
                    aws.dynamodb.TableAttributeArgs(name=contract.PENDING_INDEX_RANGE_KEY, type="N"),
                ],
                # Sparse: only sessions carrying the sweep mark (finalizing, or ready and owed a trigger) are in it,
                # so a sweep reads the few pending sessions, never the whole table.
                global_secondary_indexes=[aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=contract.PENDING_INDEX_NAME,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=contract.PENDING_INDEX_HASH_KEY, key_type="HASH"),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=contract.PENDING_INDEX_RANGE_KEY, key_type="RANGE"),
                    ],
                    projection_type="INCLUDE",
                    non_key_attributes=list(contract.PENDING_INDEX_PROJECTED_ATTRIBUTES),
                )],
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                # The AWS managed key (aws/dynamodb): callers need no KMS permissions of their own.
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
                ttl=aws.dynamodb.TableTtlArgs(attribute_name=contract.TTL_ATTRIBUTE, enabled=True),
                deletion_protection_enabled=args.deletion_protection,
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection),
        )
        self.name = self.table.name
        self.arn = self.table.arn
        # A Query on an index is authorized on the index's ARN, not the table's.
        self.pending_index_arn = self.arn.apply(lambda arn: f"{arn}/index/{contract.PENDING_INDEX_NAME}")
        self.register_outputs({"tableName": self.name, "tableArn": self.arn, "pendingIndexArn": self.pending_index_arn})
