"""`python -m bench.program_run`: wall time of one mocked run of the Pulumi program, per stack."""

from __future__ import annotations

import statistics
import time
from collections import Counter

from offline.program import run_program

RUNS = 5


def main() -> None:
    for stack in ("dev", "prod"):
        started = time.perf_counter()
        run = run_program(stack)
        first = time.perf_counter() - started
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            run_program(stack)
            timings.append(time.perf_counter() - started)
        kinds = Counter(r.type for r in run.resources)
        print(f"{stack}: {len(run.resources)} resources ({len(kinds)} types); first run (imports included) "
              f"{first * 1000:.0f} ms, then median {statistics.median(timings) * 1000:.0f} ms "
              f"over {RUNS} runs")


if __name__ == "__main__":
    main()
