"""SQS policies: encryption at rest, and the retention of queues that hold failed events."""

from __future__ import annotations

import pytest

from policies.sqs import QUEUE, sqs_dlq_retention, sqs_encrypted
from tests.policies.support import resource, validate_resource, validate_stack

INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
FOURTEEN_DAYS = 14 * 24 * 3600.0  # numbers arrive as floats


@pytest.mark.parametrize("props", [{"sqsManagedSseEnabled": True}, {"kmsMasterKeyId": "alias/aws/sqs"}],
                         ids=["sqs-managed", "kms"])
def test_an_encrypted_queue_passes(props):
    assert validate_resource(sqs_encrypted, QUEUE, props) == []


@pytest.mark.parametrize("props", [{"sqsManagedSseEnabled": False}, {}], ids=["disabled", "missing"])
def test_an_unencrypted_queue_is_reported(props):
    assert validate_resource(sqs_encrypted, QUEUE, props)


def _dead_letter_queue(retention: float | None, sender_type: str = INVOKE_CONFIG):
    props = {"sqsManagedSseEnabled": True}
    if retention is not None:
        props["messageRetentionSeconds"] = retention
    dlq = resource(QUEUE, "dlq", props)
    sender_props = {
        INVOKE_CONFIG: {"destinationConfig": {"onFailure": {"destination": "arn:dlq"}}},
        "aws:cloudwatch/eventTarget:EventTarget": {"deadLetterConfig": {"arn": "arn:dlq"}},
        QUEUE: {"redrivePolicy": '{"deadLetterTargetArn": "arn:dlq", "maxReceiveCount": 5}'},
    }[sender_type]
    return dlq, [dlq, resource(sender_type, "sender", sender_props, [dlq])]


@pytest.mark.parametrize("sender", [INVOKE_CONFIG, "aws:cloudwatch/eventTarget:EventTarget", QUEUE])
def test_a_dead_letter_queue_keeping_fourteen_days_passes(sender):
    assert validate_stack(sqs_dlq_retention, _dead_letter_queue(FOURTEEN_DAYS, sender)[1]) == []


@pytest.mark.parametrize("retention", [3600.0, None], ids=["one-hour", "missing"])
def test_a_dead_letter_queue_without_four_days_is_reported_on_the_queue(retention):
    dlq, resources = _dead_letter_queue(retention)
    [(message, urn)] = validate_stack(sqs_dlq_retention, resources)
    assert urn == dlq.urn and "345600" in message


def test_a_queue_nothing_dead_letters_into_may_keep_messages_briefly():
    work = resource(QUEUE, "work", {"messageRetentionSeconds": 3600.0})
    assert validate_stack(sqs_dlq_retention, [work]) == []
