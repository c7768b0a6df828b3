"""SQS: queues are encrypted, and a queue that holds failed events keeps them long enough to be noticed."""

from __future__ import annotations

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.common import MANDATORY, depends_on, dig, of_type

QUEUE = "aws:sqs/queue:Queue"
MIN_DLQ_RETENTION_SECONDS = 4 * 24 * 3600

# The inputs through which a resource sends what failed to a queue: (type, property, whether it is set).
_FAILURE_PATHS = (
    ("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", "destinationConfig",
     lambda p: dig(p, "destinationConfig", "onFailure", "destination")),
    ("aws:lambda/function:Function", "deadLetterConfig", lambda p: dig(p, "deadLetterConfig", "targetArn")),
    ("aws:cloudwatch/eventTarget:EventTarget", "deadLetterConfig", lambda p: dig(p, "deadLetterConfig", "arn")),
    (QUEUE, "redrivePolicy", lambda p: p.get("redrivePolicy")),
)


def _encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != QUEUE:
        return
    if args.props.get("sqsManagedSseEnabled") is not True and not args.props.get("kmsMasterKeyId"):
        report_violation("the queue sets neither sqsManagedSseEnabled nor kmsMasterKeyId: messages would be stored "
                         "unencrypted.", None)


sqs_encrypted = ResourceValidationPolicy(
    name="sqs-encrypted",
    description="Every queue encrypts its messages at rest, with SQS-managed keys or a KMS key.",
    enforcement_level=MANDATORY,
    validate=_encrypted,
)


def _dead_letter_queues(resources: list[PolicyResource]) -> list[PolicyResource]:
    queues = of_type(resources, QUEUE)
    senders = [(r, prop) for r in resources for (typ, prop, sends) in _FAILURE_PATHS
               if r.resource_type == typ and sends(r.props)]
    return [q for q in queues if any(s is not q and depends_on(s, q, prop) for s, prop in senders)]


def _dlq_retention(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for queue in _dead_letter_queues(args.resources):
        retention = queue.props.get("messageRetentionSeconds")
        if retention is None or retention < MIN_DLQ_RETENTION_SECONDS:
            report_violation(f"queue '{queue.name}' receives failed events but keeps messages "
                             f"{'for the default' if retention is None else f'{int(retention)} s'}; set "
                             f"messageRetentionSeconds to at least {MIN_DLQ_RETENTION_SECONDS} (4 days).", queue.urn)


sqs_dlq_retention = StackValidationPolicy(
    name="sqs-dlq-retention",
    description="Every queue that receives failed events sets a message retention of at least 4 days.",
    enforcement_level=MANDATORY,
    validate=_dlq_retention,
)

POLICIES = [sqs_encrypted, sqs_dlq_retention]
