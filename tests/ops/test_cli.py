"""`python -m ops` on bad input: unknown session, malformed outputs, no credentials, no stack: one line, exit 2 or 1."""

from __future__ import annotations

import functools
import io
import json

import pytest

from ops.cli import main
from tests.conftest import run_cli

SESSION = "2b0c3a4e-0000-4000-8000-000000000000"  # well-formed, in no table


run = functools.partial(run_cli, main)


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_an_unknown_session_is_one_line_and_exit_1(deployed, capsys):
    path, values = deployed
    for argv in (("session", "show", SESSION), ("reconcile", "--session", SESSION)):
        code, out, err = run(capsys, "--outputs", str(path), *argv)
        assert (code, out) == (1, "")
        assert one_line(err) == f"error: session {SESSION}: not found in table {values['tableName']}\n"


def test_a_session_id_that_is_not_one_is_a_usage_error(deployed, capsys):
    path, _ = deployed
    code, _, err = run(capsys, "--outputs", str(path), "session", "show", "window_003")
    assert code == 2 and "not a session id (a UUID): 'window_003'" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is not `pulumi stack output --json`: Expecting value: line 1 column 1 (char 0)"),
        ("{\"bucketName\": ", "is not `pulumi stack output --json`: Expecting value"),
        ("[]", "is not `pulumi stack output --json`: not a JSON object"),
        (json.dumps({"apiUrl": "https://x", "bucketName": "b", "tableName": "t", "dlqUrl": "https://q"}),
         "is not the outputs of a session-uploads stack deployed with the operator outputs: missing region, bucketArn"),
    ],
    ids=["empty", "truncated", "not-an-object", "outputs-of-an-older-stack"],
)
def test_a_malformed_outputs_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "outputs.json"
    path.write_text(content)
    code, out, err = run(capsys, "--outputs", str(path), "session", "show", SESSION)
    assert (code, out) == (2, "")
    assert one_line(err).startswith(f"error: {path} {message}")


def test_a_missing_outputs_file_and_outputs_on_stdin(tmp_path, capsys, monkeypatch):
    code, _, err = run(capsys, "--outputs", str(tmp_path / "nope.json"), "dlq", "show")
    assert code == 2 and one_line(err) == f"error: cannot read the outputs file {tmp_path / 'nope.json'}: " \
                                           "No such file or directory\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("not json"))
    code, _, err = run(capsys, "--outputs", "-", "dlq", "show")
    assert code == 2 and one_line(err).startswith("error: the outputs on stdin is not `pulumi stack output --json`")


def test_no_credentials_is_one_line_and_exit_2(deployed, capsys, monkeypatch, tmp_path):
    path, _ = deployed
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(capsys, "--outputs", str(path), "session", "show", SESSION)
    assert (code, out) == (2, "")
    assert one_line(err).startswith("error: no AWS credentials: configure the operator's own")
    code, _, err = run(capsys, "--outputs", str(path), "--profile", "nobody", "dlq", "show")
    assert code == 2 and one_line(err) == "error: AWS configuration: The config profile (nobody) could not be found\n"


def test_no_stack_named_and_none_running_here_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "dlq", "show")
    assert code == 2 and one_line(err).startswith("error: no local stack's endpoints at .devstack/endpoints.json")
    code, _, err = run(capsys, "--outputs", "a.json", "--local", "b.json", "dlq", "show")
    assert code == 2 and one_line(err) == "error: name one stack: --outputs and --local were both given\n"
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi there
    code, _, err = run(capsys, "--stack", "dev", "dlq", "show")
    assert code == 2 and one_line(err).startswith("error: no Pulumi CLI on this machine: pass --outputs FILE")


def test_a_local_stack_that_is_not_running_is_one_line_and_exit_1(tmp_path, capsys):
    keys = ("region", "bucket", "table", "completionFunction", "sweeperFunction", "accessKeyId", "secretAccessKey")
    endpoints = {key: "x" for key in keys}
    endpoints |= {"region": "eu-west-1", "awsEndpoint": "http://127.0.0.1:9", "lambdaEndpoint": "http://127.0.0.1:9",
                  "dlqUrl": "http://127.0.0.1:9/123456789012/d", "sweeperDlqUrl": "http://127.0.0.1:9/123456789012/s"}
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(endpoints))
    code, _, err = run(capsys, "--local", str(path), "session", "show", SESSION)
    assert code == 1 and one_line(err).endswith("is the local stack running (`make dev`)?\n")


def test_a_refused_request_is_one_line_and_exit_1(deployed, capsys, tmp_path):
    path, values = deployed
    other = tmp_path / "other.json"
    other.write_text(json.dumps(values | {"tableName": "not-this-stack-s-table"}))
    code, _, err = run(capsys, "--outputs", str(other), "session", "show", SESSION)
    assert code == 1 and one_line(err).startswith("error: GetItem: ResourceNotFoundException")


@pytest.mark.parametrize(
    "argv",
    [("sessions", "list", "--status", "lost"), ("sessions", "list", "--status", "ready", "--older-than", "2 days"),
     ("reconcile", "--since", "last tuesday"), ("reconcile",), ("dlq", "show", "--limit", "0"),
     ("dlq", "redrive", "--queue", "ingest")],
)
def test_bad_arguments_are_usage_errors(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error:" in err
