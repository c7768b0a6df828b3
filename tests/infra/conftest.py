"""The program run once per stack under Pulumi mocks, shared by every infra test."""

from __future__ import annotations

import json

import pulumi
import pytest

from offline.program import ProgramRun, RegisteredResource, run_program

FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    return run_program("dev")


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    return run_program("prod")


def function(run: ProgramRun, component: str) -> RegisteredResource:
    return run.one(FUNCTION, f"{component}-handler-function")


def statements(run: ProgramRun, component: str) -> dict[str, dict]:
    """The inline policy of a component's function role, by statement id."""
    policy = json.loads(run.one(ROLE_POLICY, f"{component}-handler-policy").inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else sorted(value)


def archive_files(archive: pulumi.AssetArchive, prefix: str = "") -> dict[str, str]:
    """Every file of an archive as the mocks received it, by its path inside the archive."""
    files = {}
    for name, member in archive.assets.items():
        if isinstance(member, pulumi.AssetArchive):
            files |= archive_files(member, f"{prefix}{name}/")
        else:
            files[f"{prefix}{name}"] = member.path
    return files
