"""Lambda: supported runtimes, tracing, retained logs, bounded async retries, scoped service permissions, own layers,
SnapStart that is actually used."""

from __future__ import annotations

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.common import MANDATORY, as_list, depends_on, dig, linked, of_type

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
LAYER_VERSION = "aws:lambda/layerVersion:LayerVersion"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
# Principals whose events reach a function as asynchronous invocations.
ASYNC_EVENT_PRINCIPALS = ("s3.amazonaws.com", "events.amazonaws.com")

# Runtimes AWS supports and has not scheduled for deprecation before 2026 (Lambda runtimes page): an
# unsupported runtime gets no security patches and, soon after, cannot be updated.
SUPPORTED_RUNTIMES = frozenset({
    "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "nodejs20.x", "nodejs22.x", "nodejs24.x",
    "java11", "java17", "java21", "java25",
    "dotnet8", "dotnet10",
    "ruby3.3", "ruby3.4",
    "provided.al2", "provided.al2023",
})

# Managed runtimes SnapStart supports (Lambda SnapStart page): Java 11 and later, Python 3.12 and later, .NET 8 and
# later.
SNAP_START_RUNTIMES = frozenset({
    "python3.12", "python3.13", "python3.14",
    "java11", "java17", "java21", "java25",
    "dotnet8", "dotnet10",
})


def _supported_runtime(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION or args.props.get("packageType") == "Image":
        return  # a container image brings its own runtime
    runtime = args.props.get("runtime")
    if runtime not in SUPPORTED_RUNTIMES:
        report_violation(f"runtime {runtime!r} is not a supported Lambda runtime; use one of "
                         f"{sorted(SUPPORTED_RUNTIMES)}.", None)


lambda_supported_runtime = ResourceValidationPolicy(
    name="lambda-supported-runtime",
    description="Every zip-packaged function runs on a Lambda runtime AWS still supports.",
    enforcement_level=MANDATORY,
    validate=_supported_runtime,
)


def _active_tracing(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == FUNCTION and dig(args.props, "tracingConfig", "mode") != "Active":
        report_violation("tracingConfig.mode is not 'Active': the function's invocations go untraced.", None)


lambda_active_tracing = ResourceValidationPolicy(
    name="lambda-active-tracing",
    description="Every function has X-Ray active tracing on.",
    enforcement_level=MANDATORY,
    validate=_active_tracing,
)


def _log_groups_of(function: PolicyResource, log_groups: list[PolicyResource]) -> list[PolicyResource]:
    """The log groups a function writes to: its loggingConfig's group, or the one named after it."""
    name = function.props.get("name")
    configured = dig(function.props, "loggingConfig", "logGroup")
    return [g for g in log_groups
            if linked(function, g)
            or (name is not None and g.props.get("name") == f"/aws/lambda/{name}")
            or (configured is not None and g.props.get("name") == configured)]


def _log_group_retention(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    log_groups = of_type(args.resources, LOG_GROUP)
    for function in of_type(args.resources, FUNCTION):
        groups = _log_groups_of(function, log_groups)
        if not groups:
            report_violation(f"function '{function.name}' has no log group in the stack: Lambda would create one "
                             f"that keeps logs forever.", function.urn)
        elif not any((g.props.get("retentionInDays") or 0) > 0 for g in groups):
            report_violation(f"function '{function.name}' logs to a group without retentionInDays.", function.urn)


lambda_log_group_retention = StackValidationPolicy(
    name="lambda-log-group-retention",
    description="Every function has its own log group in the stack with a retention period.",
    enforcement_level=MANDATORY,
    validate=_log_group_retention,
)


def _event_triggered(function: PolicyResource, resources: list[PolicyResource]) -> bool:
    """True when S3 or EventBridge invokes the function (asynchronously)."""
    return any(
        (r.resource_type in (NOTIFICATION, EVENT_TARGET) and depends_on(r, function))
        or (r.resource_type == PERMISSION and r.props.get("principal") in ASYNC_EVENT_PRINCIPALS
            and depends_on(r, function, "function"))
        for r in resources
    )


def _bounded_retries(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    invoke_configs = of_type(args.resources, INVOKE_CONFIG)
    for function in of_type(args.resources, FUNCTION):
        if not _event_triggered(function, args.resources):
            continue
        configs = [c for c in invoke_configs if depends_on(c, function, "functionName")]
        if not any(c.props.get("maximumRetryAttempts") is not None for c in configs):
            report_violation(f"function '{function.name}' is invoked by S3 or EventBridge without an event invoke "
                             f"config setting maximumRetryAttempts.", function.urn)
        has_dlq = dig(function.props, "deadLetterConfig", "targetArn") is not None
        if not has_dlq and not any(dig(c.props, "destinationConfig", "onFailure", "destination") for c in configs):
            report_violation(f"function '{function.name}' is invoked by S3 or EventBridge with no on-failure "
                             f"destination or dead-letter queue: failed events would be dropped.", function.urn)
    for target in of_type(args.resources, EVENT_TARGET):
        if not any(depends_on(target, f, "arn") for f in of_type(args.resources, FUNCTION)):
            continue
        if dig(target.props, "retryPolicy", "maximumRetryAttempts") is None:
            report_violation(f"EventBridge target '{target.name}' sets no retryPolicy.maximumRetryAttempts "
                             f"(EventBridge retries for 24 hours by default).", target.urn)
        if not dig(target.props, "deadLetterConfig", "arn"):
            report_violation(f"EventBridge target '{target.name}' has no deadLetterConfig: events it fails to "
                             f"deliver would be dropped.", target.urn)


lambda_async_bounded_retries = StackValidationPolicy(
    name="lambda-async-bounded-retries",
    description="Every function S3 or EventBridge invokes bounds its retries and keeps failed events in a DLQ.",
    enforcement_level=MANDATORY,
    validate=_bounded_retries,
)


def _permission_scoped(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    principal = args.props.get("principal")
    if args.resource_type != PERMISSION or not isinstance(principal, str) or not principal.endswith(".amazonaws.com"):
        return  # an account or role principal is scoped by the principal itself
    missing = [k for k in ("sourceArn", "sourceAccount") if not args.props.get(k)]
    if missing:
        report_violation(f"the permission lets {principal} invoke the function without {' and '.join(missing)}: "
                         f"any account's resource of that service could invoke it (confused deputy).", None)


lambda_permission_source_scoped = ResourceValidationPolicy(
    name="lambda-permission-source-scoped",
    description="Every permission granted to an AWS service principal names a source ARN and a source account.",
    enforcement_level=MANDATORY,
    validate=_permission_scoped,
)

def _own_layers(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    layer_versions = of_type(args.resources, LAYER_VERSION)
    for function in of_type(args.resources, FUNCTION):
        layers = as_list(function.props.get("layers"))
        # A layer the stack builds reaches the function as an input taken from that LayerVersion; any other entry
        # is an ARN from outside the stack (a public layer, another account's), whose contents no test here ran.
        own = [v for v in layer_versions if depends_on(function, v, "layers")]
        if len(layers) > len(own):
            report_violation(f"function '{function.name}' uses {len(layers) - len(own)} layer(s) this stack does not "
                             f"build: what it runs is not what the tests ran. Ship its packages in the stack's own "
                             f"layer (layer/requirements.txt, `make package`).", function.urn)


lambda_layers_built_by_the_stack = StackValidationPolicy(
    name="lambda-layers-built-by-the-stack",
    description="Every layer a function uses is a layer version this stack publishes (built from its pinned "
                "requirements), never a public or foreign layer.",
    enforcement_level=MANDATORY,
    validate=_own_layers,
)


def _snap_start_on(function_props: dict) -> bool:
    return dig(function_props, "snapStart", "applyOn") == "PublishedVersions"


def _snap_start_published(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION or not _snap_start_on(args.props):
        return
    if args.props.get("publish") is not True:
        report_violation("snapStart is on but publish is not: no version is ever published, so no snapshot is taken "
                         "and every cold start still initializes from scratch.", None)
    runtime = args.props.get("runtime")
    if runtime not in SNAP_START_RUNTIMES:
        report_violation(f"snapStart is on but runtime {runtime!r} has no SnapStart; use one of "
                         f"{sorted(SNAP_START_RUNTIMES)}.", None)


lambda_snap_start_published = ResourceValidationPolicy(
    name="lambda-snap-start-published",
    description="A function with SnapStart publishes its versions (the snapshots are taken then) on a runtime that "
                "supports it.",
    enforcement_level=MANDATORY,
    validate=_snap_start_published,
)


def _snap_start_invoked_through_a_version(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for function in of_type(args.resources, FUNCTION):
        if not _snap_start_on(function.props):
            continue
        for integration in of_type(args.resources, INTEGRATION):
            if depends_on(integration, function, "integrationUri"):
                report_violation(f"API integration '{integration.name}' invokes function '{function.name}' "
                                 f"unqualified ($LATEST), which SnapStart never restores: its cold starts initialize "
                                 f"from scratch while the snapshots are billed. Invoke an alias of the published "
                                 f"version.", integration.urn)


lambda_snap_start_invoked_through_a_version = StackValidationPolicy(
    name="lambda-snap-start-invoked-through-a-version",
    description="An API integration of a SnapStart function invokes a published version's alias, not $LATEST.",
    enforcement_level=MANDATORY,
    validate=_snap_start_invoked_through_a_version,
)

POLICIES = [
    lambda_supported_runtime,
    lambda_active_tracing,
    lambda_log_group_retention,
    lambda_async_bounded_retries,
    lambda_permission_source_scoped,
    lambda_layers_built_by_the_stack,
    lambda_snap_start_published,
    lambda_snap_start_invoked_through_a_version,
]
