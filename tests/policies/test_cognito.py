"""Cognito policies: password length, and no unverified self sign-up."""

from __future__ import annotations

import pytest

from policies.cognito import USER_POOL, cognito_password_strength, cognito_verified_sign_up
from tests.policies.support import validate_resource

ADMIN_ONLY = {"allowAdminCreateUserOnly": True}
POOL = {"passwordPolicy": {"minimumLength": 14.0, "requireSymbols": True}, "adminCreateUserConfig": ADMIN_ONLY,
        "autoVerifiedAttributes": ["email"]}


@pytest.mark.parametrize("length", [12.0, 14.0])
def test_a_pool_requiring_long_passwords_passes(length):
    props = {**POOL, "passwordPolicy": {"minimumLength": length}}
    assert validate_resource(cognito_password_strength, USER_POOL, props) == []


def test_a_pool_accepting_short_passwords_is_reported():
    props = {**POOL, "passwordPolicy": {"minimumLength": 8.0}}
    [message] = validate_resource(cognito_password_strength, USER_POOL, props)
    assert "minimumLength is 8" in message and "12" in message


@pytest.mark.parametrize("policy", [{"requireSymbols": True}, None], ids=["no-minimum", "missing"])
def test_a_pool_without_a_minimum_length_is_reported_as_cognitos_default(policy):
    props = {k: v for k, v in POOL.items() if k != "passwordPolicy"}
    [message] = validate_resource(cognito_password_strength, USER_POOL,
                                  props if policy is None else {**props, "passwordPolicy": policy})
    assert "minimumLength is not set" in message


@pytest.mark.parametrize("props", [
    POOL,
    {"adminCreateUserConfig": ADMIN_ONLY},  # admins create every user: nothing to verify at sign-up
    {"adminCreateUserConfig": {"allowAdminCreateUserOnly": False}, "autoVerifiedAttributes": ["email"]},
], ids=["admin-only-verified", "admin-only", "self-sign-up-verified"])
def test_a_pool_without_unverified_self_sign_up_passes(props):
    assert validate_resource(cognito_verified_sign_up, USER_POOL, props) == []


@pytest.mark.parametrize("props", [
    {"adminCreateUserConfig": {"allowAdminCreateUserOnly": False}, "autoVerifiedAttributes": []},
    {"autoVerifiedAttributes": []},
    {},
], ids=["self-sign-up-unverified", "no-admin-config", "missing"])
def test_a_pool_open_to_unverified_self_sign_up_is_reported(props):
    [message] = validate_resource(cognito_verified_sign_up, USER_POOL, props)
    assert "allowAdminCreateUserOnly" in message and "autoVerifiedAttributes" in message


@pytest.mark.parametrize("policy", [cognito_password_strength, cognito_verified_sign_up], ids=lambda p: p.name)
def test_other_resources_are_not_judged(policy):
    assert validate_resource(policy, "aws:cognito/userPoolClient:UserPoolClient", {}) == []
