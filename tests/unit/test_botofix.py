"""botocore as the local stack and the tests run it (devstack/botofix.py): one loader of service models, one cache
of aliased event names and one endpoint rule tree per service per process, each session's credentials and region
its own, each endpoint resolved and each handler's `**kwargs` checked as botocore's own code does."""

from __future__ import annotations

import functools

import boto3
import botocore.compat
import botocore.hooks
import botocore.loaders
import botocore.regions
import botocore.session
import pytest
from botocore.config import Config
from botocore.endpoint_provider import EndpointProvider

import devstack  # noqa: F401 - installs devstack.botofix
from devstack import botofix


def _loader(session: boto3.session.Session) -> botocore.loaders.Loader:
    return session._session.get_component("data_loader")


def test_sessions_share_one_loader_and_keep_their_own_credentials_and_region():
    first = boto3.session.Session("AKIAFIRST", "first-secret", region_name="eu-west-1")
    second = boto3.session.Session("AKIASECOND", "second-secret", region_name="us-east-1")

    assert _loader(first) is _loader(second)
    a, b = first.client("s3", endpoint_url="http://127.0.0.1:1"), second.client("s3", endpoint_url="http://127.0.0.1:1")
    assert a.meta.service_model is not None and a.meta.service_model.operation_names == b.meta.service_model.operation_names
    assert (a._request_signer._credentials.access_key, a.meta.region_name) == ("AKIAFIRST", "eu-west-1")
    assert (b._request_signer._credentials.access_key, b.meta.region_name) == ("AKIASECOND", "us-east-1")


def test_the_shared_loader_reads_what_a_session_of_its_own_would():
    own = botocore.loaders.Loader()
    shared = _loader(boto3.session.Session(region_name="us-east-1"))

    assert shared is not own
    assert shared.load_service_model("dynamodb", "service-2") == own.load_service_model("dynamodb", "service-2")
    assert shared.search_paths[: len(own.search_paths)] == own.search_paths


def test_each_new_session_leaves_the_search_paths_as_they_were():
    boto3.session.Session(region_name="us-east-1")
    paths = list(_loader(boto3.session.Session(region_name="us-east-1")).search_paths)

    for _ in range(5):
        boto3.session.Session(region_name="us-east-1")

    assert _loader(boto3.session.Session(region_name="us-east-1")).search_paths == paths


def test_another_data_path_gets_a_loader_of_its_own(tmp_path):
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(tmp_path))

    loader = session.get_component("data_loader")

    assert loader is not _loader(boto3.session.Session(region_name="us-east-1"))
    assert loader.search_paths[0] == str(tmp_path)


def _botocore_aliaser(aliases: dict | None = None) -> botocore.hooks.EventAliaser:
    """An aliaser as botocore makes it, with a cache of its own."""
    aliaser = botocore.hooks.EventAliaser.__new__(botocore.hooks.EventAliaser)
    botofix._ALIASER_INIT(aliaser, botocore.hooks.HierarchicalEmitter(), aliases)
    return aliaser


def test_clients_alias_event_names_as_botocore_does_through_one_cache():
    session = boto3.session.Session("a", "b", region_name="eu-west-1")
    clients = [session.client(service, endpoint_url="http://127.0.0.1:1") for service in ("events", "s3")]
    other = boto3.session.Session("a", "b", region_name="eu-west-1").client("cognito-idp",
                                                                            endpoint_url="http://127.0.0.1:1")
    caches = {id(client.meta.events._alias_name_cache) for client in [*clients, other]}
    assert len(caches) == 1
    names = ["before-call.events.PutEvents", "creating-client-class.cognito-idp", "before-call.s3.PutObject",
             "provide-client-params.data.iot.Publish", "before-call.api.pricing.GetProducts", "needs-retry.sqs"]
    own = _botocore_aliaser()
    assert [other.meta.events._alias_event_name(name) for name in names] == [own._alias_event_name(n) for n in names]
    assert own._alias_event_name("before-call.events.PutEvents") == "before-call.eventbridge.PutEvents"
    # Other aliases than botocore's keep a cache of their own.
    custom = botocore.hooks.EventAliaser(botocore.hooks.HierarchicalEmitter(), {"s3": "x"})
    assert custom._alias_name_cache is not other.meta.events._alias_name_cache
    assert custom._alias_event_name("before-call.s3.PutObject") == "before-call.x.PutObject"


class _Handler:
    def with_kwargs(self, a, **kwargs): ...
    def without(self, a): ...
    def __call__(self, **kwargs): ...


def test_a_handler_accepts_kwargs_as_botocore_asks_of_inspect():
    def plain(**kwargs): ...
    def positional(a, b=1): ...
    def star_args(*args): ...
    handler = _Handler()
    callables = [plain, positional, star_args, handler.with_kwargs, handler.without, handler, _Handler.with_kwargs,
                 lambda **k: None, lambda a: None, functools.partial(handler.with_kwargs, 1),
                 functools.partial(positional, 1), print]
    assert [botofix._accepts_kwargs(f) for f in callables] == [bool(botocore.compat.accepts_kwargs(f))
                                                                for f in callables]
    events = boto3.session.Session(region_name="eu-west-1").events
    events.register("before-call.s3", handler.with_kwargs)
    with pytest.raises(ValueError, match="must accept keyword arguments"):
        events.register("before-call.s3", handler.without)


def _endpoints() -> list[str]:
    """Where clients of each region, service and S3 addressing send requests, and where S3 presigns a PUT."""
    found = []
    for region in ("eu-west-1", "us-east-1", "ap-southeast-2", "eu-west-1"):
        session = boto3.session.Session("a", "b", region_name=region)
        for config in (None, Config(signature_version="s3v4",
                                    s3={"us_east_1_regional_endpoint": "regional", "addressing_style": "virtual"})):
            found += [session.client(service, config=config).meta.endpoint_url
                      for service in ("s3", "dynamodb", "sqs", "events", "lambda", "sts")]
            for endpoint in (None, "http://127.0.0.1:9"):
                s3 = session.client("s3", config=config, endpoint_url=endpoint)
                found.append(s3.generate_presigned_url("put_object", Params={"Bucket": "a-bucket", "Key": "k"})
                             .split("?")[0])
    return found


def test_clients_of_a_service_share_its_endpoint_rules_and_resolve_endpoints_as_botocore_does(monkeypatch):
    first = boto3.session.Session("a", "b", region_name="eu-west-1").client("s3")
    second = boto3.session.Session("a", "b", region_name="us-east-1").client("s3")
    assert first._ruleset_resolver._provider is second._ruleset_resolver._provider
    shared = _endpoints()
    monkeypatch.setattr(botocore.regions, "EndpointProvider", EndpointProvider)  # a provider per client, as botocore
    assert shared == _endpoints()
    assert "https://a-bucket.s3.eu-west-1.amazonaws.com/k" in shared
