"""Cognito: a user pool's passwords are long, and strangers cannot sign themselves up unverified."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.common import MANDATORY, dig

USER_POOL = "aws:cognito/userPool:UserPool"
# NIST SP 800-63B: length is what makes a password hard to guess; Cognito's default is 8.
MIN_PASSWORD_LENGTH = 12
COGNITO_DEFAULT_PASSWORD_LENGTH = 8


def _password_strength(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != USER_POOL:
        return
    length = dig(args.props, "passwordPolicy", "minimumLength")
    if length is None:
        report_violation(f"passwordPolicy.minimumLength is not set: Cognito accepts passwords of "
                         f"{COGNITO_DEFAULT_PASSWORD_LENGTH} characters.", None)
    elif length < MIN_PASSWORD_LENGTH:
        report_violation(f"passwordPolicy.minimumLength is {length:g}: passwords must be at least "
                         f"{MIN_PASSWORD_LENGTH} characters.", None)


cognito_password_strength = ResourceValidationPolicy(
    name="cognito-password-strength",
    description=f"Every user pool requires passwords of at least {MIN_PASSWORD_LENGTH} characters.",
    enforcement_level=MANDATORY,
    validate=_password_strength,
)


def _verified_sign_up(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != USER_POOL:
        return
    # Cognito's default lets anyone call SignUp with the public client id: every token this pool issues calls the API.
    if dig(args.props, "adminCreateUserConfig", "allowAdminCreateUserOnly") is True:
        return
    if not args.props.get("autoVerifiedAttributes"):
        report_violation("anyone may sign up (adminCreateUserConfig.allowAdminCreateUserOnly is not true) and "
                         "autoVerifiedAttributes is empty: no account is tied to an address its owner controls.",
                         None)


cognito_verified_sign_up = ResourceValidationPolicy(
    name="cognito-verified-sign-up",
    description="Every user pool either lets only administrators create users or verifies each self-signed-up user.",
    enforcement_level=MANDATORY,
    validate=_verified_sign_up,
)

POLICIES = [cognito_password_strength, cognito_verified_sign_up]
