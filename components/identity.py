"""The stack's own identity provider: a Cognito user pool and the uploading apps' client, for the JWT authorizer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

TYPE = "session-uploads:index:Identity"
# Cognito's minimum is 6 and its default 8; NIST SP 800-63B favours length over composition, and the pack's
# cognito-password-strength policy holds every pool to at least 12.
PASSWORD_MIN_LENGTH = 14
# The SDKs' SRP sign-in (the password never leaves the device) and refresh; no admin or plain-password flows.
AUTH_FLOWS = ("ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
# An hour-long recording refreshes its ID token once; a stolen one is good for an hour at most.
ID_TOKEN_MINUTES = 60
ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30


def issuer_url(region: str, user_pool_id: str) -> str:
    """The `iss` claim of the pool's tokens, which the authorizer matches and fetches its signing keys from."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


@dataclass
class IdentityArgs:
    region: str
    """The stack's region: the pool lives there and its issuer URL names it."""
    deletion_protection: bool = False
    """Refuse deleting the pool (its users cannot be recreated with the same `sub`, which owns their sessions)."""


class Identity(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient
    user_pool_id: pulumi.Output[str]
    client_id: pulumi.Output[str]
    issuer: pulumi.Output[str]
    audience: pulumi.Output[str]

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.user_pool = aws.cognito.UserPool(
            f"{name}-user-pool",
            aws.cognito.UserPoolArgs(
                # No self sign-up: every caller can create sessions and mint upload URLs into the bucket, so an
                # administrator creates each user (AdminCreateUser mails a temporary password).
                admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                    allow_admin_create_user_only=True),
                username_attributes=["email"],
                username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(case_sensitive=False),
                auto_verified_attributes=["email"],
                # A changed email takes effect only once verified: an attacker holding a session cannot redirect
                # the account's recovery mail.
                user_attribute_update_settings=aws.cognito.UserPoolUserAttributeUpdateSettingsArgs(
                    attributes_require_verification_before_updates=["email"]),
                account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(name="verified_email",
                                                                                    priority=1)]),
                password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                    minimum_length=PASSWORD_MIN_LENGTH,
                    require_lowercase=True,
                    require_uppercase=True,
                    require_numbers=True,
                    require_symbols=True,
                    temporary_password_validity_days=3,
                ),
                # Optional TOTP: a user may enrol an authenticator app; nobody is locked out of a dev stack, and
                # no SMS (an SNS role, per-message cost, SIM-swap risk) is configured. Make it "ON" for production.
                mfa_configuration="OPTIONAL",
                software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True),
                deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection),
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-app-client",
            aws.cognito.UserPoolClientArgs(
                user_pool_id=self.user_pool.id,
                # A public client: a secret shipped inside a mobile or browser app is no secret.
                generate_secret=False,
                explicit_auth_flows=list(AUTH_FLOWS),
                # Sign-in answers the same for an unknown user as for a wrong password: no account enumeration.
                prevent_user_existence_errors="ENABLED",
                enable_token_revocation=True,
                id_token_validity=ID_TOKEN_MINUTES,
                access_token_validity=ACCESS_TOKEN_MINUTES,
                refresh_token_validity=REFRESH_TOKEN_DAYS,
                token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                    id_token="minutes", access_token="minutes", refresh_token="days"),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.user_pool_id = self.user_pool.id
        self.client_id = self.client.id
        self.issuer = self.user_pool.id.apply(lambda pool_id: issuer_url(args.region, pool_id))
        # The authorizer's audience is the client id: Cognito puts it in the ID token's `aud`, while its access token
        # has no `aud` and carries it as `client_id`, which API Gateway matches only when `aud` is absent. Both carry
        # the `sub` the API keys sessions by, so apps may send either; the ID token is the one with `aud`.
        self.audience = self.client_id
        self.register_outputs({"userPoolId": self.user_pool_id, "userPoolClientId": self.client_id,
                               "issuer": self.issuer})
