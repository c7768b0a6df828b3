"""bench.stack refuses a run that would measure nothing, before it starts a stack."""

import subprocess
import sys

from bench.handlers import PROJECT_DIR


def test_fewer_than_one_run_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "bench.stack", "--runs", "0"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert "--runs must be at least 1" in done.stderr
