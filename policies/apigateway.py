"""API Gateway (HTTP APIs): every route is authorized, every stage logs its access and is throttled."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.common import MANDATORY, dig

ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
AUTHORIZATION_TYPES = ("JWT", "CUSTOM", "AWS_IAM")


def _route_authorizer(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ROUTE:
        return
    kind = args.props.get("authorizationType") or "NONE"
    if kind not in AUTHORIZATION_TYPES:
        report_violation(f"route {args.props.get('routeKey')!r} has authorizationType {kind!r}: anyone on the "
                         f"internet can call it.", None)
    elif kind != "AWS_IAM" and not args.props.get("authorizerId"):
        report_violation(f"route {args.props.get('routeKey')!r} has authorizationType {kind!r} but no "
                         f"authorizerId.", None)


# Mandatory; a stack that explicitly opts out of authentication runs it as advisory (see policies/overrides.py).
apigateway_route_authorizer = ResourceValidationPolicy(
    name="apigateway-route-authorizer",
    description="Every HTTP API route requires an authorizer (JWT, Lambda or IAM).",
    enforcement_level=MANDATORY,
    validate=_route_authorizer,
)


def _stage_access_logging(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STAGE:
        return
    missing = [k for k in ("destinationArn", "format") if not dig(args.props, "accessLogSettings", k)]
    if missing:
        report_violation(f"the stage's accessLogSettings has no {' and no '.join(missing)}: requests leave no "
                         f"access log.", None)


apigateway_stage_access_logging = ResourceValidationPolicy(
    name="apigateway-stage-access-logging",
    description="Every API stage writes access logs to a log group in a declared format.",
    enforcement_level=MANDATORY,
    validate=_stage_access_logging,
)


def _stage_throttling(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != STAGE:
        return
    missing = [k for k in ("throttlingRateLimit", "throttlingBurstLimit")
               if not dig(args.props, "defaultRouteSettings", k)]
    if missing:
        report_violation(f"the stage's defaultRouteSettings has no {' and no '.join(missing)}: one client can "
                         f"spend the account's whole API and Lambda concurrency.", None)


apigateway_stage_throttling = ResourceValidationPolicy(
    name="apigateway-stage-throttling",
    description="Every API stage sets default route throttling (a rate and a burst limit).",
    enforcement_level=MANDATORY,
    validate=_stage_throttling,
)

POLICIES = [apigateway_route_authorizer, apigateway_stage_access_logging, apigateway_stage_throttling]
