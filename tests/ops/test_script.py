"""`make ops` writes the `session-uploads-ops` command: `python -m ops` from this checkout, from any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ops.target import PROJECT_DIR


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_ops_writes_a_command_that_runs_the_tool_from_anywhere(tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / ".installed").touch()  # this virtualenv counts as set up: make installs nothing here
    made = subprocess.run(["make", "-s", "ops", f"BIN={bin_dir}"], cwd=PROJECT_DIR, capture_output=True, text=True,
                          check=False)
    assert made.returncode == 0, made.stderr
    script = bin_dir / "session-uploads-ops"
    assert os.access(script, os.X_OK)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    helped = subprocess.run([str(script), "--help"], cwd=elsewhere, capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "usage: python -m ops" in helped.stdout
    refused = subprocess.run([str(script), "--outputs", "missing.json", "dlq", "show"], cwd=elsewhere,
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert refused.stderr == "error: cannot read the outputs file missing.json: No such file or directory\n"
