"""The offline preview: every stack file passes the pack, and a wildcard grant added to the program turns it red."""

from __future__ import annotations

import contextlib
import io

import pytest
from pulumi_policy import EnforcementLevel

import components.api
from offline.preview import evaluate, main
from offline.program import PROJECT_DIR, run_program

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


def preview(stack: str) -> tuple[int, str]:
    """`python -m offline.preview --stack <stack>`: its exit status and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--stack", stack])
    return status, out.getvalue()


def test_there_are_stack_files_to_preview():
    assert {"dev", "prod"} <= set(STACKS)


# Known program gap, reported to the lead: the API's and the EventBridge rule's Lambda permissions set no
# source_account (components/api.py, components/upload_completion.py), which lambda-permission-source-scoped
# requires. Strict: once the program sets it this test passes, fails as XPASS, and this marker must go.
PROGRAM_GAP = pytest.mark.xfail(strict=True, raises=AssertionError,
                                reason="Lambda permissions for apigateway/events lack source_account (issue 3)")


@PROGRAM_GAP
@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_pack_with_no_mandatory_violation(stack):
    status, printed = preview(stack)
    assert status == 0, printed
    assert "0 mandatory violation(s)" in printed
    assert "pulumi:pulumi:Stack" in printed and "aws:lambda/function:Function" in printed  # the tree


def test_a_stack_that_opted_out_of_authentication_gets_advisory_authorizer_violations():
    run = run_program("dev")  # Pulumi.dev.yaml sets allowUnauthenticated
    routes = [v for v in evaluate(run) if v.policy == "apigateway-route-authorizer"]
    assert routes and {v.level for v in routes} == {EnforcementLevel.ADVISORY}
    overridden = run_program("dev", {"allowUnauthenticated": "false", "jwtIssuer": "https://idp.example.com/",
                                     "jwtAudience": "session-uploads"})
    assert not [v for v in evaluate(overridden) if v.policy == "apigateway-route-authorizer"]


def test_a_wildcard_statement_added_to_the_program_turns_the_preview_red(monkeypatch):
    """The API role's DynamoDB grant becomes dynamodb:*: through the real program, policy document and preview."""
    run = run_program("dev")
    baseline = {(v.policy, v.urn) for v in evaluate(run) if v.level is EnforcementLevel.MANDATORY}
    role_policy = next(r.urn for r in run.resources if r.name == "api-handler-policy")
    original, widened = components.api.statement, []

    def statement_with_wildcard(actions, resources, sid=None):
        if any(a.startswith("dynamodb:") for a in actions):
            actions = ["dynamodb:*"]
            widened.append(sid)
        return original(actions, resources, sid=sid)

    monkeypatch.setattr(components.api, "statement", statement_with_wildcard)
    status, printed = preview("dev")
    assert widened, "the program no longer grants the API any DynamoDB action: inject the wildcard elsewhere"
    assert status == 1
    assert f"[mandatory]  iam-no-wildcard-actions  ({role_policy})" in printed
    assert "dynamodb:*" in printed
    assert ("iam-no-wildcard-actions", role_policy) not in baseline
