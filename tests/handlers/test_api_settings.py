"""The API's settings come from the environment: URL expiry, the size cap, and loud failure when one is missing."""

from urllib.parse import parse_qs, urlparse

import pytest

from handlers import contract
from handlers.settings import ApiSettings, CompletionSettings, SettingsError
from tests.conftest import load_handler
from tests.handlers.conftest import Api


def test_grant_expiry_and_size_cap_follow_the_environment(aws):
    aws.setenv(contract.ENV_URL_EXPIRES_SECONDS, "120")
    aws.setenv(contract.ENV_MAX_AUDIO_BYTES, "1000")
    api = Api(load_handler("handlers.api.app"))
    sid = api.create()
    status, grant = api.grant(sid, 0, size=1000)
    assert status == 200 and grant["expiresIn"] == 120
    assert parse_qs(urlparse(grant["url"]).query)["X-Amz-Expires"] == ["120"]
    status, error = api.grant(sid, 0, size=1001)
    assert status == 400 and "sizeBytes" in error["error"] and "1000" in error["error"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({contract.ENV_SESSIONS_TABLE_NAME: "t"}, contract.ENV_BUCKET_NAME),
        ({contract.ENV_BUCKET_NAME: "b"}, contract.ENV_SESSIONS_TABLE_NAME),
        (
            {
                contract.ENV_BUCKET_NAME: "b",
                contract.ENV_SESSIONS_TABLE_NAME: "t",
                contract.ENV_URL_EXPIRES_SECONDS: "x",
            },
            contract.ENV_URL_EXPIRES_SECONDS,
        ),
        (
            {contract.ENV_BUCKET_NAME: "b", contract.ENV_SESSIONS_TABLE_NAME: "t", contract.ENV_MAX_AUDIO_BYTES: "0"},
            contract.ENV_MAX_AUDIO_BYTES,
        ),
        (
            {
                contract.ENV_BUCKET_NAME: "b",
                contract.ENV_SESSIONS_TABLE_NAME: "t",
                contract.ENV_URL_EXPIRES_SECONDS: str(contract.MAX_URL_EXPIRES_SECONDS + 1),
            },
            contract.ENV_URL_EXPIRES_SECONDS,
        ),
    ],
)
def test_api_settings_fail_loudly_naming_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        ApiSettings.from_env(env)


def test_completion_settings_require_the_bucket_the_ingest_function_and_the_processing_bus():
    with pytest.raises(SettingsError, match=contract.ENV_BUCKET_NAME):
        CompletionSettings.from_env(
            {contract.ENV_SESSIONS_TABLE_NAME: "t", contract.ENV_INGEST_FUNCTION_NAME: "f",
             contract.ENV_PROCESSING_EVENT_BUS_NAME: "b"}
        )
    with pytest.raises(SettingsError, match=contract.ENV_INGEST_FUNCTION_NAME):
        CompletionSettings.from_env(
            {contract.ENV_BUCKET_NAME: "s", contract.ENV_SESSIONS_TABLE_NAME: "t",
             contract.ENV_PROCESSING_EVENT_BUS_NAME: "b"}
        )
    with pytest.raises(SettingsError, match=contract.ENV_PROCESSING_EVENT_BUS_NAME):
        CompletionSettings.from_env({contract.ENV_BUCKET_NAME: "s", contract.ENV_SESSIONS_TABLE_NAME: "t",
                                     contract.ENV_INGEST_FUNCTION_NAME: "f"})
    settings = CompletionSettings.from_env(
        {
            contract.ENV_BUCKET_NAME: "s",
            contract.ENV_SESSIONS_TABLE_NAME: "t",
            contract.ENV_INGEST_FUNCTION_NAME: "f",
            contract.ENV_PROCESSING_EVENT_BUS_NAME: "b",
        }
    )
    assert settings.claim_lease_seconds == contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS
