"""Clients built on first use call what a client built at import would: the import's endpoint, region, credentials."""

import boto3
import pytest

from handlers.dal.clients import LazyClient

IMPORT_ENV = {
    "AWS_ACCESS_KEY_ID": "function-key",
    "AWS_SECRET_ACCESS_KEY": "function-secret",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
}
LATER_ENV = {
    "AWS_ACCESS_KEY_ID": "someone-else",
    "AWS_SECRET_ACCESS_KEY": "someone-elses-secret",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}


def _imported(monkeypatch: pytest.MonkeyPatch, service: str, **kwargs) -> LazyClient:
    """Built as the local stack imports a handler: its environment and a fresh default session, both gone after."""
    saved_session = boto3.DEFAULT_SESSION
    with monkeypatch.context() as during_import:
        for name, value in IMPORT_ENV.items():
            during_import.setenv(name, value)
        boto3.setup_default_session()
        client = LazyClient(service, **kwargs)
    boto3.DEFAULT_SESSION = saved_session
    for name, value in LATER_ENV.items():
        monkeypatch.setenv(name, value)
    boto3.setup_default_session()
    return client


@pytest.fixture(autouse=True)
def _default_session_restored():
    saved = boto3.DEFAULT_SESSION
    yield
    boto3.DEFAULT_SESSION = saved


@pytest.mark.parametrize("service", ["events", "lambda", "s3", "stepfunctions"])
def test_a_lazy_client_calls_the_endpoint_region_and_credentials_of_the_import(monkeypatch, service):
    client = _imported(monkeypatch, service)

    assert client.meta.endpoint_url == IMPORT_ENV["AWS_ENDPOINT_URL"]
    assert client.meta.region_name == IMPORT_ENV["AWS_DEFAULT_REGION"]
    credentials = client._request_signer._credentials.get_frozen_credentials()
    assert (credentials.access_key, credentials.secret_key) == (
        IMPORT_ENV["AWS_ACCESS_KEY_ID"],
        IMPORT_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def test_a_service_specific_endpoint_of_the_import_wins_over_the_global_one(monkeypatch):
    monkeypatch.setitem(IMPORT_ENV, "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4572")

    assert _imported(monkeypatch, "s3").meta.endpoint_url == "http://127.0.0.1:4572"
    assert _imported(monkeypatch, "events").meta.endpoint_url == IMPORT_ENV["AWS_ENDPOINT_URL"]


def test_explicit_arguments_win_and_the_config_is_the_clients(monkeypatch):
    from botocore.config import Config

    client = _imported(
        monkeypatch, "s3", region_name="ap-south-1", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    )

    assert client.meta.region_name == "ap-south-1"
    assert client.meta.config.signature_version == "s3v4"
    assert client.meta.config.s3 == {"addressing_style": "virtual"}


def test_without_a_configured_endpoint_the_client_resolves_aws_own(monkeypatch):
    monkeypatch.delitem(IMPORT_ENV, "AWS_ENDPOINT_URL")

    assert _imported(monkeypatch, "events").meta.endpoint_url == "https://events.eu-central-1.amazonaws.com"


def test_the_client_is_built_once_and_answers_as_the_client(monkeypatch):
    client = _imported(monkeypatch, "stepfunctions")

    assert client.client is client.client
    assert issubclass(client.exceptions.ExecutionAlreadyExists, Exception)
    assert client.meta.service_model.service_name == "stepfunctions"
