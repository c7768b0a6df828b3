"""`pulumi preview --policy-pack policies`, offline: the program under mocks, its resource tree, the policy report."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError

from layer import LayerNotReady
from offline.program import PROJECT_DIR, ProgramRun, run_program
from policies.overrides import ALLOW_UNAUTHENTICATED, enforcement_overrides
from policies.pack import PACK_NAME, POLICIES

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    urn: str | None  # None: the stack as a whole
    message: str


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=parent)


def policy_resources(run: ProgramRun) -> list[PolicyResource]:
    """The registered resources as the engine hands them to a stack policy: parents and dependencies linked."""
    resources = {r.urn: PolicyResource(r.type, r.inputs, r.urn, r.name, _options(r.parent), None, None, [], {})
                 for r in run.resources}
    for r in run.resources:
        resources[r.urn].parent = resources.get(r.parent or "")
        resources[r.urn].dependencies = [resources[d] for d in r.dependencies if d in resources]
    return list(resources.values())


def enforcement_levels(run: ProgramRun, policies: Sequence[Policy]) -> dict[str, EnforcementLevel]:
    """Each policy's level for this stack: its own, unless the stack's config overrides it (as CI's
    `--policy-pack-config` file does)."""
    overrides = enforcement_overrides(run.config.get(f"{run.project}:{ALLOW_UNAUTHENTICATED}"))
    return {p.name: EnforcementLevel(overrides.get(p.name, p.enforcement_level.value)) for p in policies}


def _call(validate, args, report) -> None:
    try:
        result = validate(args, report)
        if inspect.isawaitable(result):
            asyncio.run(result)
    except _NotApplicableError:
        pass


def evaluate(run: ProgramRun, policies: Sequence[Policy] = POLICIES) -> list[Violation]:
    """Every violation the pack reports for the run: resource policies per resource, then stack policies."""
    levels = enforcement_levels(run, policies)
    resources = policy_resources(run)
    violations: list[Violation] = []

    def reporter(policy: Policy, resource_urn: str | None):
        """report_violation for one policy; a resource policy's violations are always its resource's."""
        def report(message: str, urn: str | None = None) -> None:
            violations.append(Violation(policy.name, levels[policy.name], resource_urn or urn, message))
        return report

    for policy in policies:
        if levels[policy.name] is EnforcementLevel.DISABLED:
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None)
                _call(policy.validate, args, reporter(policy, r.urn))
        elif isinstance(policy, StackValidationPolicy):
            _call(policy.validate, StackValidationArgs(resources), reporter(policy, None))
    return violations


def render_tree(run: ProgramRun) -> str:
    """Type and name of every resource, indented under its parent, the stack at the root."""
    children: dict[str | None, list] = {}
    for r in run.resources:
        under_stack = not r.parent or r.parent.split("::")[-2] == STACK_TYPE
        children.setdefault(None if under_stack else r.parent, []).append(r)
    rows = [(STACK_TYPE, f"{run.project}-{run.stack}")]

    def walk(parent_urn: str | None, prefix: str) -> None:
        kids = children.get(parent_urn, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            rows.append((f"{prefix}{'└─ ' if last else '├─ '}{r.type}", r.name))
            walk(r.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join([f"     {'Type':<{width}}Name", *(f" +   {label:<{width}}{name}" for label, name in rows)])


def _pack_version() -> str:
    return str(yaml.safe_load((PROJECT_DIR / "policies" / "PulumiPolicy.yaml").read_text()).get("version", "0.0.0"))


def render_report(run: ProgramRun, violations: Sequence[Violation], policies: Sequence[Policy] = POLICIES) -> str:
    """The policy section of `pulumi preview --policy-pack`: each violation with its level and resource URN."""
    descriptions = {p.name: p.description for p in policies}
    mandatory = [v for v in violations if v.level is EnforcementLevel.MANDATORY]
    advisory = [v for v in violations if v.level is EnforcementLevel.ADVISORY]
    mark = "FAILED" if mandatory else "passed"
    lines = ["", "Policies:", f"    {PACK_NAME}@v{_pack_version()} {mark}"]
    for v in [*mandatory, *advisory]:
        lines += [f"        - [{v.level.value}]  {v.policy}  ({v.urn or 'the stack'})",
                  f"          {descriptions[v.policy]}",
                  f"          {v.message}"]
    levels = enforcement_levels(run, policies)
    downgraded = sorted(p.name for p in policies if levels[p.name] is not p.enforcement_level)
    lines += ["", "Policy summary:",
              f"    {len(policies)} policies run on {len(run.resources)} resources of stack '{run.stack}'",
              f"    {len(mandatory)} mandatory violation(s), {len(advisory)} advisory violation(s)"]
    if downgraded:
        lines.append(f"    advisory for this stack by its config ({ALLOW_UNAUTHENTICATED}): {downgraded}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.preview", description=__doc__)
    parser.add_argument("--stack", required=True, help="the stack whose Pulumi.<stack>.yaml config to use")
    stack = parser.parse_args(argv).stack
    if not (PROJECT_DIR / f"Pulumi.{stack}.yaml").is_file():
        parser.error(f"no stack file Pulumi.{stack}.yaml in {PROJECT_DIR}")
    started = time.perf_counter()
    try:
        run = run_program(stack)
    except LayerNotReady as error:  # as `pulumi preview` would stop: nothing to preview without the layer
        print(f"error: {error}", file=sys.stderr)
        return 2
    violations = evaluate(run)
    elapsed = time.perf_counter() - started
    print(f"Previewing update ({stack}), offline under mocks:\n")
    print(render_tree(run))
    print(render_report(run, violations))
    print(f"\nResources: {len(run.resources)} to create; program run and policy check took {elapsed:.2f} s")
    return 1 if any(v.level is EnforcementLevel.MANDATORY for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
