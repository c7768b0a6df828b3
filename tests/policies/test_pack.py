"""The pack as the Pulumi CLI loads it: its policies, their metadata, and the per-stack enforcement overrides."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, Policy

from policies import apigateway, cloudwatch, cognito, dynamodb, iam, lambda_, s3, sqs
from policies.overrides import enforcement_overrides
from policies.pack import PACK_NAME, POLICIES

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


def test_the_pack_holds_every_policy_of_every_domain_module_once():
    modules = (iam, s3, lambda_, sqs, dynamodb, apigateway, cognito, cloudwatch)
    declared = [v for m in modules for v in vars(m).values() if isinstance(v, Policy)]
    assert sorted(p.name for p in POLICIES) == sorted(p.name for p in declared)
    assert len({p.name for p in POLICIES}) == len(POLICIES)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_each_policy_is_kebab_case_mandatory_with_a_one_sentence_description(policy):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", policy.name)
    assert policy.enforcement_level is EnforcementLevel.MANDATORY
    assert policy.description.endswith(".") and policy.description.count(". ") == 0


def test_the_cli_entry_point_serves_the_pack():
    """policies/__main__.py, run from policies/ as the CLI runs it, serves the analyzer with every policy."""
    server = subprocess.Popen([sys.executable, "__main__.py"], cwd=POLICIES_DIR, stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert info.name == PACK_NAME
    assert {p.name for p in info.policies} == {p.name for p in POLICIES}
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


@pytest.mark.parametrize("value", ["true", "True", " true "])
def test_a_stack_that_opts_out_of_authentication_runs_the_authorizer_policy_as_advisory(value):
    assert enforcement_overrides(value) == {"apigateway-route-authorizer": "advisory"}


@pytest.mark.parametrize("value", ["false", "", None])
def test_any_other_stack_keeps_every_policy_mandatory(value):
    assert enforcement_overrides(value) == {}
