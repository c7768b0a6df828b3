"""`python -m bench.stack`: how long the local stack takes to start and to stop, as every e2e test module, `make demo`
and `make dev` start and stop it (moto server's process, the program deployed into it, each function's instances
loaded, the fronts served)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

RUNS = 5


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    started = time.perf_counter()
    from devstack.stack import DevStack  # noqa: PLC0415 - its import is measured on its own

    imported = time.perf_counter() - started
    starts, stops = [], []
    with tempfile.TemporaryDirectory() as state:
        for run in range(args.runs + 1):
            started = time.perf_counter()
            stack = DevStack(state_dir=Path(state) / str(run)).start()
            starts.append(time.perf_counter() - started)
            started = time.perf_counter()
            stack.stop()
            stops.append(time.perf_counter() - started)
    # The first start also imports the handlers and moto's backends: printed on its own, as is its stop.
    first, starts, stops = starts[0], starts[1:], stops[1:]
    print(f"import devstack.stack {imported * 1000:.0f} ms; first start {first * 1000:.0f} ms")
    for name, seconds in (("start:", starts), ("stop: ", stops)):
        print(f"{name} median {statistics.median(seconds) * 1000:.0f} ms, min {min(seconds) * 1000:.0f} ms, "
              f"max {max(seconds) * 1000:.0f} ms over {len(seconds)}")


if __name__ == "__main__":
    main()
