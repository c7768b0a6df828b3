"""Lambda policies: runtime, tracing, log retention, bounded async retries, scoped service permissions."""

from __future__ import annotations

import pytest

from policies.lambda_ import (
    EVENT_TARGET,
    FUNCTION,
    INTEGRATION,
    INVOKE_CONFIG,
    LAYER_VERSION,
    LOG_GROUP,
    NOTIFICATION,
    PERMISSION,
    lambda_active_tracing,
    lambda_async_bounded_retries,
    lambda_layers_built_by_the_stack,
    lambda_log_group_retention,
    lambda_permission_source_scoped,
    lambda_snap_start_invoked_through_a_version,
    lambda_snap_start_published,
    lambda_supported_runtime,
)
from tests.policies.support import resource, validate_resource, validate_stack

ZIP = {"runtime": "python3.12", "handler": "handlers.api.app.lambda_handler"}


def test_a_supported_runtime_passes():
    assert validate_resource(lambda_supported_runtime, FUNCTION, ZIP) == []


def test_a_deprecated_runtime_is_reported():
    [message] = validate_resource(lambda_supported_runtime, FUNCTION, {**ZIP, "runtime": "python3.8"})
    assert "python3.8" in message


def test_a_zip_function_without_a_runtime_is_reported():
    assert validate_resource(lambda_supported_runtime, FUNCTION, {"handler": "h"})


def test_a_container_image_brings_its_own_runtime():
    assert validate_resource(lambda_supported_runtime, FUNCTION, {"packageType": "Image", "imageUri": "x"}) == []


def test_active_tracing_passes():
    assert validate_resource(lambda_active_tracing, FUNCTION, {**ZIP, "tracingConfig": {"mode": "Active"}}) == []


@pytest.mark.parametrize("props", [{**ZIP, "tracingConfig": {"mode": "PassThrough"}}, ZIP],
                         ids=["pass-through", "missing"])
def test_a_function_without_active_tracing_is_reported(props):
    assert validate_resource(lambda_active_tracing, FUNCTION, props)


def test_policies_ignore_other_resource_types():
    assert validate_resource(lambda_active_tracing, LOG_GROUP, {}) == []
    assert validate_resource(lambda_supported_runtime, LOG_GROUP, {}) == []
    assert validate_resource(lambda_permission_source_scoped, FUNCTION, {"principal": "s3.amazonaws.com"}) == []


def _function_logging_to(log_group_props: dict | None, *, function_takes_group: bool = True):
    """A function and its log group, linked the way components/ does: loggingConfig.logGroup = group.name."""
    if log_group_props is None:
        function = resource(FUNCTION, "api-fn", ZIP)
        return function, [function]
    group = resource(LOG_GROUP, "api-logs", log_group_props)
    function = resource(FUNCTION, "api-fn", {**ZIP, "loggingConfig": {"logGroup": "api-logs-1"}},
                        [group] if function_takes_group else [])
    return function, [group, function]


def test_a_function_logging_to_a_group_with_retention_passes():
    assert validate_stack(lambda_log_group_retention, _function_logging_to({"retentionInDays": 30})[1]) == []


def test_a_group_named_after_the_function_counts():
    group = resource(LOG_GROUP, "logs", {"name": "/aws/lambda/api", "retentionInDays": 7})
    function = resource(FUNCTION, "api-fn", {**ZIP, "name": "api"})
    assert validate_stack(lambda_log_group_retention, [group, function]) == []


@pytest.mark.parametrize("group", [{"retentionInDays": 0}, {}], ids=["never-expire", "missing-retention"])
def test_a_group_without_retention_is_reported_on_the_function(group):
    function, resources = _function_logging_to(group)
    [(message, urn)] = validate_stack(lambda_log_group_retention, resources)
    assert urn == function.urn and "retentionInDays" in message


def test_a_function_without_a_group_is_reported():
    function, resources = _function_logging_to(None)
    assert [urn for _, urn in validate_stack(lambda_log_group_retention, resources)] == [function.urn]


def test_an_unrelated_group_does_not_count():
    function, resources = _function_logging_to({"retentionInDays": 30}, function_takes_group=False)
    assert [urn for _, urn in validate_stack(lambda_log_group_retention, resources)] == [function.urn]


BOUNDED = {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 3600,
           "destinationConfig": {"onFailure": {"destination": "arn:aws:sqs:eu-west-1:123456789012:dlq"}}}


def _s3_triggered(invoke_config: dict | None, trigger: str = "notification"):
    function = resource(FUNCTION, "complete-fn", ZIP)
    resources = [function]
    if trigger == "notification":
        resources.append(resource(NOTIFICATION, "notification", {"lambdaFunctions": [{}]}, [function]))
    else:
        resources.append(resource(PERMISSION, "s3-permission", {"principal": "s3.amazonaws.com"}, [function]))
    if invoke_config is not None:
        resources.append(resource(INVOKE_CONFIG, "complete-invoke", invoke_config, [function]))
    return function, resources


@pytest.mark.parametrize("trigger", ["notification", "permission"])
def test_an_s3_triggered_function_with_bounded_retries_and_a_dlq_passes(trigger):
    assert validate_stack(lambda_async_bounded_retries, _s3_triggered(BOUNDED, trigger)[1]) == []


def test_a_function_dead_letter_queue_counts_as_the_failure_destination():
    function = resource(FUNCTION, "fn", {**ZIP, "deadLetterConfig": {"targetArn": "arn:aws:sqs:r:1:dlq"}})
    resources = [function, resource(NOTIFICATION, "n", {}, [function]),
                 resource(INVOKE_CONFIG, "ic", {"maximumRetryAttempts": 0}, [function])]
    assert validate_stack(lambda_async_bounded_retries, resources) == []


def test_an_s3_triggered_function_without_an_invoke_config_is_reported_twice():
    function, resources = _s3_triggered(None)
    reported = validate_stack(lambda_async_bounded_retries, resources)
    assert [urn for _, urn in reported] == [function.urn, function.urn]


def test_an_invoke_config_without_a_failure_destination_is_reported():
    function, resources = _s3_triggered({"maximumRetryAttempts": 2})
    [(message, urn)] = validate_stack(lambda_async_bounded_retries, resources)
    assert urn == function.urn and "on-failure" in message


def test_an_invoke_config_without_max_retries_is_reported():
    _, resources = _s3_triggered({"destinationConfig": BOUNDED["destinationConfig"]})
    [(message, _)] = validate_stack(lambda_async_bounded_retries, resources)
    assert "maximumRetryAttempts" in message


def test_a_function_nothing_triggers_asynchronously_needs_no_invoke_config():
    function = resource(FUNCTION, "api-fn", ZIP)
    api_permission = resource(PERMISSION, "api-permission", {"principal": "apigateway.amazonaws.com"}, [function])
    assert validate_stack(lambda_async_bounded_retries, [function, api_permission]) == []


def _eventbridge_target(target_props: dict):
    function = resource(FUNCTION, "complete-fn", ZIP)
    target = resource(EVENT_TARGET, "complete-target", {"rule": "r", "arn": "arn:fn", **target_props}, [function])
    return target, [function, target, resource(INVOKE_CONFIG, "complete-invoke", BOUNDED, [function])]


def test_an_eventbridge_target_with_a_retry_policy_and_dlq_passes():
    props = {"retryPolicy": {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 3600},
             "deadLetterConfig": {"arn": "arn:aws:sqs:eu-west-1:123456789012:dlq"}}
    assert validate_stack(lambda_async_bounded_retries, _eventbridge_target(props)[1]) == []


def test_an_eventbridge_target_without_retry_policy_and_dlq_is_reported():
    target, resources = _eventbridge_target({"retryPolicy": {"maximumEventAgeInSeconds": 3600}})
    reported = validate_stack(lambda_async_bounded_retries, resources)
    assert [urn for _, urn in reported] == [target.urn, target.urn]


SCOPED = {"action": "lambda:InvokeFunction", "function": "complete", "principal": "s3.amazonaws.com",
          "sourceArn": "arn:aws:s3:::uploads", "sourceAccount": "123456789012"}


def test_a_permission_with_source_arn_and_account_passes():
    assert validate_resource(lambda_permission_source_scoped, PERMISSION, SCOPED) == []


@pytest.mark.parametrize("missing", ["sourceArn", "sourceAccount"])
def test_a_service_permission_missing_a_source_is_reported(missing):
    props = {k: v for k, v in SCOPED.items() if k != missing}
    [message] = validate_resource(lambda_permission_source_scoped, PERMISSION, props)
    assert missing in message


def test_a_permission_for_an_account_principal_is_scoped_by_the_principal():
    props = {"action": "lambda:InvokeFunction", "function": "f", "principal": "123456789012"}
    assert validate_resource(lambda_permission_source_scoped, PERMISSION, props) == []


PUBLIC_LAYER = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:27"
OWN_LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:session-uploads-dev-packages:1"


def test_a_function_on_the_stacks_own_layer_passes():
    layer = resource(LAYER_VERSION, "packages-version", {"layerName": "session-uploads-dev-packages"})
    function = resource(FUNCTION, "api-fn", {**ZIP, "layers": [OWN_LAYER]}, [layer])
    assert validate_stack(lambda_layers_built_by_the_stack, [layer, function]) == []


@pytest.mark.parametrize("own", [False, True], ids=["public-only", "own-and-public"])
def test_a_layer_the_stack_does_not_build_is_reported_on_the_function(own):
    layer = resource(LAYER_VERSION, "packages-version", {"layerName": "session-uploads-dev-packages"})
    layers = [OWN_LAYER, PUBLIC_LAYER] if own else [PUBLIC_LAYER]
    function = resource(FUNCTION, "api-fn", {**ZIP, "layers": layers}, [layer] if own else [])
    [(message, urn)] = validate_stack(lambda_layers_built_by_the_stack, [layer, function])
    assert urn == function.urn
    assert "1 layer(s) this stack does not build" in message


def test_a_function_without_layers_uses_nothing_from_outside_the_stack():
    assert validate_stack(lambda_layers_built_by_the_stack, [resource(FUNCTION, "api-fn", ZIP)]) == []


SNAP_START = {**ZIP, "publish": True, "snapStart": {"applyOn": "PublishedVersions"}}
ALIAS = "aws:lambda/alias:Alias"


def test_a_published_snap_start_function_on_a_supported_runtime_passes():
    assert validate_resource(lambda_snap_start_published, FUNCTION, SNAP_START) == []


@pytest.mark.parametrize("publish", [False, None], ids=["false", "missing"])
def test_snap_start_without_published_versions_is_reported(publish):
    props = {k: v for k, v in SNAP_START.items() if k != "publish"} | ({} if publish is None else {"publish": publish})
    [message] = validate_resource(lambda_snap_start_published, FUNCTION, props)
    assert "publish" in message


def test_snap_start_on_a_runtime_without_it_is_reported():
    [message] = validate_resource(lambda_snap_start_published, FUNCTION, {**SNAP_START, "runtime": "python3.11"})
    assert "python3.11" in message


@pytest.mark.parametrize("snap_start", [None, {"applyOn": "None"}], ids=["missing", "off"])
def test_a_function_without_snap_start_needs_no_published_version(snap_start):
    props = {**ZIP, "runtime": "python3.11"} | ({} if snap_start is None else {"snapStart": snap_start})
    assert validate_resource(lambda_snap_start_published, FUNCTION, props) == []


def _api_integration(function_props: dict, *, through_alias: bool) -> list:
    function = resource(FUNCTION, "api-fn", function_props)
    alias = resource(ALIAS, "api-live", {"name": "live", "functionVersion": "1"}, [function])
    integration = resource(INTEGRATION, "api-integration", {"integrationType": "AWS_PROXY"},
                           [alias] if through_alias else [function])
    return [function, alias, integration]


def test_a_snap_start_function_invoked_through_its_alias_passes():
    assert validate_stack(lambda_snap_start_invoked_through_a_version, _api_integration(SNAP_START,
                                                                                        through_alias=True)) == []


def test_a_snap_start_function_invoked_unqualified_is_reported_on_the_integration():
    resources = _api_integration(SNAP_START, through_alias=False)
    [(message, urn)] = validate_stack(lambda_snap_start_invoked_through_a_version, resources)
    assert urn == resources[-1].urn
    assert "$LATEST" in message


def test_a_function_without_snap_start_may_be_invoked_unqualified():
    assert validate_stack(lambda_snap_start_invoked_through_a_version, _api_integration(ZIP, through_alias=False)) == []
