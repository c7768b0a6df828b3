"""Load through the local stack with the real client, duplicate and dropped S3 events and failing ingest invokes
injected: every window recorded and ingested exactly once (the dropped ones healed by the sweeper), every session ready
once, nothing dead-lettered but injected failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import CLAIM_LEASE_SECONDS, FINALIZING_TIMEOUT_SECONDS, RETRY_DELAYS, run_load
from devstack.demo import write_windows
from devstack.stack import DevStack

SESSIONS = 4
WINDOWS = 10  # per session, for the suite's time; `make soak` runs 10,000 windows


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("devstack")
    with DevStack(retry_delays=RETRY_DELAYS, claim_lease_seconds=CLAIM_LEASE_SECONDS,
                    finalizing_timeout_seconds=FINALIZING_TIMEOUT_SECONDS, state_dir=state) as running:
        yield running


def test_concurrent_sessions_with_duplicates_drops_and_failing_invokes_lose_nothing_and_ingest_once(stack, tmp_path):
    write_windows(Path(tmp_path), WINDOWS, seconds=0.05)
    figures = run_load(stack, Path(tmp_path), sessions=SESSIONS, windows=WINDOWS, seed=7)
    print(f"\n{figures.table()}")

    # The faults really were injected: a run without them would prove nothing.
    assert figures.duplicates_injected > 0 and figures.invoke_faults_injected > 0 and figures.drops_injected > 0
    assert figures.windows_healed == figures.drops_injected  # each lost event, healed by the sweeper
    assert (figures.windows_uploaded, figures.upload_failures) == (SESSIONS * WINDOWS, 0)
    assert figures.problems == []
    assert (figures.lost, figures.double_ingested) == (0, 0)
    # Only an event whose three attempts all hit an injected failure may be dead-lettered; redriven, it ingests once.
    assert figures.dead_lettered_unexpected == 0
    assert (figures.sessions_ready, figures.session_ready_events) == (SESSIONS, SESSIONS)
