"""`iam-policy`: the least an operator needs to run every command of this tool on one stack, from its outputs.

Exact ARNs, named actions; the listing is confined to the sessions prefix by an `s3:prefix` condition (which IAM
evaluates, and moto does not). Nothing here reads an object or writes the table: whatever changes a session is done by
the stack's own completion and sweeper functions, which the operator may only invoke.
"""

from __future__ import annotations

from typing import Any

from handlers import contract, layout
from ops.target import COMPLETION, SWEEPER, Target


def operator_policy(target: Target) -> dict[str, Any]:
    arns = target.arns
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # session show, sessions list (a Scan for statuses the index does not hold), reconcile (window items).
                "Sid": "ReadSessions",
                "Effect": "Allow",
                "Action": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                "Resource": [arns["table"]],
            },
            {
                "Sid": "PendingSessions",  # sessions list --status finalizing
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": [f"{arns['table']}/index/{contract.PENDING_INDEX_NAME}"],
            },
            {
                "Sid": "ListSessionObjects",  # reconcile
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [arns["bucket"]],
                "Condition": {"StringLike": {"s3:prefix": [f"{layout.SESSIONS_PREFIX}*"]}},
            },
            {
                "Sid": "Replay",  # dlq redrive, reconcile: through the stack's own functions
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [arns[COMPLETION], arns[SWEEPER]],
            },
            {
                "Sid": "DeadLetters",  # dlq show, dlq redrive
                "Effect": "Allow",
                "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                           "sqs:ReceiveMessage"],
                "Resource": [arns[f"{COMPLETION}Dlq"], arns[f"{SWEEPER}Dlq"]],
            },
        ],
    }
