"""botocore as the local stack and the tests run it (devstack/botofix.py): one loader of service models per process,
each session's credentials and region its own."""

from __future__ import annotations

import boto3
import botocore.loaders
import botocore.session

import devstack  # noqa: F401 - installs devstack.botofix


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
