"""CloudWatch policies: an alarm that fires must reach someone."""

from __future__ import annotations

import pytest

from policies.cloudwatch import METRIC_ALARM, cloudwatch_alarm_actions
from tests.policies.support import validate_resource

TOPIC = "arn:aws:sns:eu-west-1:123456789012:alarms"
ALARM = {"metricName": "SessionsMarkedIncomplete", "namespace": "SessionUploads", "threshold": 0.0}


def test_an_alarm_notifying_a_topic_passes():
    assert validate_resource(cloudwatch_alarm_actions, METRIC_ALARM, {**ALARM, "alarmActions": [TOPIC]}) == []


@pytest.mark.parametrize("props", [{**ALARM, "alarmActions": []}, ALARM,
                                   {**ALARM, "alarmActions": [TOPIC], "actionsEnabled": False}],
                         ids=["empty", "missing", "disabled"])
def test_an_alarm_that_tells_no_one_is_reported(props):
    assert len(validate_resource(cloudwatch_alarm_actions, METRIC_ALARM, props)) == 1


def test_other_resources_are_ignored():
    assert validate_resource(cloudwatch_alarm_actions, "aws:sns/topic:Topic", {}) == []
