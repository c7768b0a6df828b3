"""What the machine gave a bench run: the CPU time all its processes used, and the time its hypervisor stole from
it (Linux's /proc/stat). This machine's 2 cores are shared: on one morning the steal counter took 6 to 38 % of them
in each 10 s of a `bench.load` run, and the run's wall time followed it while its CPU time stayed put. Figures from
different hours can be read side by side only with these beside them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTimes:
    """Seconds, summed over the machine's cores, since it booted (or between two readings)."""

    busy: float  # user, nice, system, irq and softirq: every process's work, the bench's and any other
    idle: float  # idle and iowait
    steal: float  # the hypervisor running someone else on the machine's cores

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.busy - other.busy, self.idle - other.idle, self.steal - other.steal)

    def describe(self) -> str:
        total = self.busy + self.idle + self.steal
        stolen = f" ({self.steal / total:.0%} of the cores' time)" if total > 0 else ""
        return f"{self.busy:.1f} s of CPU used, {self.steal:.1f} s stolen by the hypervisor{stolen}, {self.idle:.1f} s idle"


def parse(stat: str, ticks_per_second: int) -> CpuTimes:
    """The machine-wide `cpu` line of a /proc/stat text (proc(5): user nice system idle iowait irq softirq steal)."""
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in (fields[1:9] + ["0"] * 8)[:8])
            return CpuTimes(
                busy=(user + nice + system + irq + softirq) / ticks_per_second,
                idle=(idle + iowait) / ticks_per_second,
                steal=steal / ticks_per_second,
            )
    raise ValueError("no machine-wide cpu line in /proc/stat")


def cpu_times() -> CpuTimes | None:
    """Now, or None where there is no /proc/stat (not Linux)."""
    try:
        return parse(PROC_STAT.read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None


def since(started: CpuTimes | None) -> CpuTimes | None:
    """What the machine gave since `started` (a `cpu_times()`), or None where either reading is missing."""
    now = cpu_times()
    return now - started if started is not None and now is not None else None
