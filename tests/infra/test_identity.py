"""Who authenticates the API: the stack's own Cognito pool (dev), an external IdP (prod), or nobody by opt-out."""

from __future__ import annotations

import pytest

from components.identity import AUTH_FLOWS, PASSWORD_MIN_LENGTH, issuer_url
from offline.program import ProgramRun, run_program
from policies.cognito import MIN_PASSWORD_LENGTH

IDENTITY = "session-uploads:index:Identity"
POOL = "aws:cognito/userPool:UserPool"
CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
ROUTE = "aws:apigatewayv2/route:Route"
POOL_ID = "eu-west-1_identityuserpool"  # the mock's <region>_<suffix>
CLIENT_ID = "identity-app-client-mock-id"
POOL_OUTPUTS = {"userPoolId", "userPoolClientId", "jwtIssuer"}


@pytest.fixture(scope="module")
def opted_out() -> ProgramRun:
    return run_program("dev", {"allowUnauthenticated": "true"})


@pytest.fixture(scope="module")
def protected() -> ProgramRun:
    return run_program("dev", {"deletionProtection": "true"})


def test_without_an_issuer_the_stack_authenticates_with_its_own_pool(dev):
    assert "session-uploads:jwtIssuer" not in dev.config and "session-uploads:allowUnauthenticated" not in dev.config
    pool, client = dev.one(POOL), dev.one(CLIENT)
    authorizer = dev.one(AUTHORIZER)
    assert authorizer.inputs["authorizerType"] == "JWT"
    assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
    # Cognito's `iss` for this pool, and its ID tokens' `aud`: the app client.
    assert authorizer.inputs["jwtConfiguration"] == {
        "issuer": f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}", "audiences": [CLIENT_ID]}
    assert {pool.urn, client.urn} <= set(authorizer.dependencies)
    assert client.inputs["userPoolId"] == POOL_ID
    assert {(r.inputs["authorizationType"], r.inputs["authorizerId"]) for r in dev.of_type(ROUTE)} == {
        ("JWT", "api-jwt-authorizer-mock-id")}
    assert {k: dev.outputs[k] for k in POOL_OUTPUTS} == {
        "userPoolId": POOL_ID, "userPoolClientId": CLIENT_ID, "jwtIssuer": issuer_url("eu-west-1", POOL_ID)}


def test_only_administrators_create_users_and_passwords_are_long(dev):
    pool = dev.one(POOL).inputs
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    policy = pool["passwordPolicy"]
    assert policy["minimumLength"] == PASSWORD_MIN_LENGTH >= MIN_PASSWORD_LENGTH
    assert all(policy[k] is True for k in ("requireLowercase", "requireUppercase", "requireNumbers", "requireSymbols"))
    assert pool["usernameAttributes"] == pool["autoVerifiedAttributes"] == ["email"]
    assert pool["userAttributeUpdateSettings"] == {"attributesRequireVerificationBeforeUpdates": ["email"]}
    assert pool["accountRecoverySetting"] == {"recoveryMechanisms": [{"name": "verified_email", "priority": 1}]}
    assert (pool["mfaConfiguration"], pool["softwareTokenMfaConfiguration"]) == ("OPTIONAL", {"enabled": True})
    assert "smsConfiguration" not in pool


def test_the_app_client_is_public_signs_in_with_srp_and_refreshes(dev):
    client = dev.one(CLIENT).inputs
    assert client["generateSecret"] is False
    assert client["explicitAuthFlows"] == list(AUTH_FLOWS) == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["preventUserExistenceErrors"] == "ENABLED"
    assert client["enableTokenRevocation"] is True
    validity = {k: client[f"{k}Validity"] for k in ("idToken", "accessToken", "refreshToken")}
    units = client["tokenValidityUnits"]
    assert (validity, units) == ({"idToken": 60, "accessToken": 60, "refreshToken": 30},
                                 {"idToken": "minutes", "accessToken": "minutes", "refreshToken": "days"})
    assert "allowedOauthFlows" not in client  # no hosted UI or implicit flow to misconfigure


def test_the_pool_and_client_belong_to_the_identity_component(dev):
    component = dev.one(IDENTITY)
    assert component.parent.endswith("pulumi:pulumi:Stack::session-uploads-dev")
    assert {(r.type, r.name, r.parent) for r in dev.resources if r.parent == component.urn} == {
        (POOL, "identity-user-pool", component.urn), (CLIENT, "identity-app-client", component.urn)}


def test_the_pool_is_deletion_protected_with_the_stack(dev, protected):
    assert dev.one(POOL).inputs["deletionProtection"] == "INACTIVE"
    assert protected.one(POOL).inputs["deletionProtection"] == "ACTIVE"


def test_an_external_idp_replaces_the_pool(prod):
    assert not prod.of_type(IDENTITY) and not prod.of_type(POOL) and not prod.of_type(CLIENT)
    assert prod.one(AUTHORIZER).inputs["jwtConfiguration"]["issuer"] == prod.config["session-uploads:jwtIssuer"]
    assert not POOL_OUTPUTS & set(prod.outputs)


def test_a_stack_that_opts_out_has_no_pool_no_authorizer_and_open_routes(opted_out):
    assert not opted_out.of_type(IDENTITY) and not opted_out.of_type(POOL) and not opted_out.of_type(CLIENT)
    assert not opted_out.of_type(AUTHORIZER)
    routes = opted_out.of_type(ROUTE)
    assert routes and {r.inputs["authorizationType"] for r in routes} == {"NONE"}
    assert all(r.inputs.get("authorizerId") is None for r in routes)
    assert not POOL_OUTPUTS & set(opted_out.outputs)
