"""SQS: queues are encrypted, a queue holding failed events keeps them long enough, services send only as scoped."""

from __future__ import annotations

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.common import MANDATORY, as_list, depends_on, dig, is_allow, of_type, statements

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
# Condition keys that tie a service principal's request to our own resource or account (confused deputy).
SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:sourceorgid")
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

def _unscoped_principals(statement) -> list[str]:
    """The service principals (or everyone) a statement lets in without a source condition."""
    principal = statement.get("Principal")
    if principal == "*":
        admitted = ["*"]
    else:
        admitted = [p for p in as_list(dig(principal, "Service")) if isinstance(p, str)]
        admitted += [p for p in as_list(dig(principal, "AWS")) if p == "*"]
    conditions = statement.get("Condition") or {}
    keys = {k.lower() for operator in conditions.values() if isinstance(operator, dict) for k in operator}
    return [] if keys & set(SOURCE_KEYS) else admitted


def _queue_policy_source_scoped(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != QUEUE_POLICY:
        return
    found = statements(args.props.get("policy"))
    if not found:
        report_violation("the queue policy has no statements to check (missing or unreadable policy).", None)
    for index, statement in enumerate(found, start=1):
        unscoped = _unscoped_principals(statement) if is_allow(statement) else []
        if unscoped:
            report_violation(f"statement {index} lets {unscoped} send to the queue without an aws:SourceArn or "
                             f"aws:SourceAccount condition: any account's resource could use it (confused deputy).",
                             None)


sqs_queue_policy_source_scoped = ResourceValidationPolicy(
    name="sqs-queue-policy-source-scoped",
    description="Every queue policy statement admitting a service principal or everyone carries a source condition.",
    enforcement_level=MANDATORY,
    validate=_queue_policy_source_scoped,
)

POLICIES = [sqs_encrypted, sqs_dlq_retention, sqs_queue_policy_source_scoped]
