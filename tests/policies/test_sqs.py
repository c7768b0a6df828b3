"""SQS policies: encryption at rest, retention of queues that hold failed events, scoped service senders."""

from __future__ import annotations

import pytest

from policies.sqs import QUEUE, QUEUE_POLICY, sqs_dlq_retention, sqs_encrypted, sqs_queue_policy_source_scoped
from tests.policies.support import document, resource, validate_resource, validate_stack

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


RULE_ARN = "arn:aws:events:eu-west-1:123456789012:rule/sweeper-schedule"


def _send_from(principal, condition=None) -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sqs:SendMessage", "Resource": "arn:dlq"}
    if condition is not None:
        statement["Condition"] = condition
    return {"queueUrl": "https://sqs/dlq", "policy": document(statement)}


@pytest.mark.parametrize("condition", [{"ArnEquals": {"aws:SourceArn": RULE_ARN}},
                                       {"StringEquals": {"aws:SourceAccount": "123456789012"}}],
                         ids=["source-arn", "source-account"])
def test_a_service_scoped_to_its_source_may_send(condition):
    props = _send_from({"Service": "events.amazonaws.com"}, condition)
    assert validate_resource(sqs_queue_policy_source_scoped, QUEUE_POLICY, props) == []


@pytest.mark.parametrize("principal", [{"Service": ["events.amazonaws.com"]}, "*", {"AWS": "*"}],
                         ids=["service", "star", "any-aws"])
def test_a_service_or_everyone_without_a_source_condition_is_reported(principal):
    props = _send_from(principal, {"StringEquals": {"aws:PrincipalTag/team": "x"}})
    [message] = validate_resource(sqs_queue_policy_source_scoped, QUEUE_POLICY, props)
    assert "aws:SourceArn" in message


def test_an_account_principal_is_scoped_by_the_principal_and_a_deny_needs_no_condition():
    allow_account = _send_from({"AWS": "arn:aws:iam::123456789012:root"})
    assert validate_resource(sqs_queue_policy_source_scoped, QUEUE_POLICY, allow_account) == []
    deny = {"policy": document({"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "arn:dlq"})}
    assert validate_resource(sqs_queue_policy_source_scoped, QUEUE_POLICY, deny) == []


def test_a_queue_policy_without_a_document_is_reported():
    assert validate_resource(sqs_queue_policy_source_scoped, QUEUE_POLICY, {"queueUrl": "https://sqs/dlq"})
