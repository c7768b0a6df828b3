"""A boto3 client built on its first use, for the clients that a function's first request seldom needs."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.configprovider import ConfiguredEndpointProvider


class LazyClient:
    """Stands for `boto3.client(service, **kwargs)`, built on the first attribute read and then kept for the
    container's life; a cold start whose request never calls the service does not build it (15 to 60 ms each: the
    S3 client loads the largest service model and endpoint rules botocore ships).

    Everything a client resolves from the environment is resolved here, when the handler module is imported, as an
    eager client would: the default session of that moment and its credentials, the region and the configured endpoint
    URL (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so that the client built later is the one an eager client
    would have been, whatever the process's environment says by then.
    """

    def __init__(self, service: str, **kwargs: Any):
        session = boto3._get_default_session()  # what boto3.client(...) would use now
        core = session._session
        core.get_credentials()  # resolved now and kept by the session, which the client built later takes them from
        endpoint_url = None
        if not core.get_config_variable("ignore_configured_endpoint_urls"):
            # The provider botocore's create_client installs (service-specific variable, global one, shared config
            # file). botocore calls the class private: layer/requirements.txt pins botocore, and
            # tests/handlers/test_clients.py fails if the class stops resolving what a client would.
            endpoint_url = ConfiguredEndpointProvider(
                full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name=service
            ).provide()
        endpoint_url = kwargs.pop("endpoint_url", None) or endpoint_url
        if endpoint_url is None:
            # None configured now: none either when it is built, whatever the environment says then.
            config = Config(ignore_configured_endpoint_urls=True)
            kwargs["config"] = kwargs["config"].merge(config) if kwargs.get("config") else config
        self._build = {
            "session": session,
            "service_name": service,
            "region_name": kwargs.pop("region_name", None) or session.region_name,
            "endpoint_url": endpoint_url,
            **kwargs,
        }
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The client, built now if it was not yet."""
        if self._client is None:
            build = dict(self._build)
            self._client = build.pop("session").client(**build)
        return self._client

    def __getattr__(self, name: str) -> Any:
        # Only reached for what the proxy itself lacks: the client's methods, `meta` and `exceptions`.
        if name.startswith("__") or name in ("_build", "_client"):  # not set yet (a copy or a pickle being made)
            raise AttributeError(name)
        return getattr(self.client, name)
