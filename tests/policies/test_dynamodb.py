"""DynamoDB policies: point-in-time recovery and KMS encryption."""

from __future__ import annotations

import pytest

from policies.dynamodb import TABLE, dynamodb_encryption, dynamodb_point_in_time_recovery
from tests.policies.support import validate_resource

CASES = {
    dynamodb_point_in_time_recovery.name: (dynamodb_point_in_time_recovery, "pointInTimeRecovery"),
    dynamodb_encryption.name: (dynamodb_encryption, "serverSideEncryption"),
}
BASE = {"billingMode": "PAY_PER_REQUEST", "hashKey": "sessionId", "attributes": [{"name": "sessionId", "type": "S"}]}


@pytest.mark.parametrize("case", CASES)
def test_an_enabled_setting_passes(case):
    policy, prop = CASES[case]
    assert validate_resource(policy, TABLE, {**BASE, prop: {"enabled": True}}) == []


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("setting", [{"enabled": False}, {}, None], ids=["disabled", "no-enabled", "missing"])
def test_a_table_without_the_setting_is_reported(case, setting):
    policy, prop = CASES[case]
    props = BASE if setting is None else {**BASE, prop: setting}
    [message] = validate_resource(policy, TABLE, props)
    assert prop in message
