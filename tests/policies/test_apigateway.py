"""API Gateway policies: route authorizers, stage access logs, stage throttling."""

from __future__ import annotations

import pytest

from policies.apigateway import (
    ROUTE,
    STAGE,
    apigateway_route_authorizer,
    apigateway_stage_access_logging,
    apigateway_stage_throttling,
)
from tests.policies.support import validate_resource

ROUTE_KEY = {"apiId": "api", "routeKey": "POST /sessions", "target": "integrations/i"}


@pytest.mark.parametrize("auth", [{"authorizationType": "JWT", "authorizerId": "a1"}, {"authorizationType": "AWS_IAM"}],
                         ids=["jwt", "iam"])
def test_an_authorized_route_passes(auth):
    assert validate_resource(apigateway_route_authorizer, ROUTE, {**ROUTE_KEY, **auth}) == []


@pytest.mark.parametrize("auth", [{"authorizationType": "NONE"}, {}, {"authorizationType": "JWT"}],
                         ids=["none", "missing", "jwt-without-authorizer"])
def test_an_open_route_is_reported(auth):
    [message] = validate_resource(apigateway_route_authorizer, ROUTE, {**ROUTE_KEY, **auth})
    assert "POST /sessions" in message


LOGS = {"destinationArn": "arn:aws:logs:eu-west-1:123456789012:log-group:access", "format": '{"id":"$context.requestId"}'}
THROTTLE = {"throttlingRateLimit": 50.0, "throttlingBurstLimit": 100.0}
STAGE_BASE = {"apiId": "api", "name": "$default", "accessLogSettings": LOGS, "defaultRouteSettings": THROTTLE}


@pytest.mark.parametrize("policy", [apigateway_stage_access_logging, apigateway_stage_throttling], ids=lambda p: p.name)
def test_a_logged_throttled_stage_passes(policy):
    assert validate_resource(policy, STAGE, STAGE_BASE) == []


@pytest.mark.parametrize("settings", [{"format": LOGS["format"]}, None], ids=["no-destination", "missing"])
def test_a_stage_without_access_logs_is_reported(settings):
    props = {**STAGE_BASE, "accessLogSettings": settings}
    [message] = validate_resource(apigateway_stage_access_logging, STAGE, props)
    assert "destinationArn" in message


@pytest.mark.parametrize("settings", [{"throttlingRateLimit": 50.0}, {"detailedMetricsEnabled": True}, None],
                         ids=["rate-only", "no-limits", "missing"])
def test_a_stage_without_throttling_is_reported(settings):
    props = {**STAGE_BASE, "defaultRouteSettings": settings}
    [message] = validate_resource(apigateway_stage_throttling, STAGE, props)
    assert "throttlingBurstLimit" in message
