"""bench.machine reads the machine's CPU time, steal included, from /proc/stat as proc(5) lays it out."""

import pytest

from bench import machine

STAT = """cpu  2446172 1210 268341 5948299 7630 0 25460 270214 0 0
cpu0 1223086 605 134170 2974149 3815 0 12730 135107 0 0
intr 1 2 3
"""


def test_parse_sums_the_busy_fields_and_keeps_steal_apart():
    times = machine.parse(STAT, 100)
    assert times.busy == pytest.approx((2446172 + 1210 + 268341 + 0 + 25460) / 100)
    assert times.idle == pytest.approx((5948299 + 7630) / 100)
    assert times.steal == pytest.approx(2702.14)


def test_difference_and_description():
    before = machine.CpuTimes(busy=10.0, idle=5.0, steal=1.0)
    after = machine.CpuTimes(busy=70.0, idle=20.0, steal=26.0)
    spent = after - before
    assert spent == machine.CpuTimes(busy=60.0, idle=15.0, steal=25.0)
    assert spent.describe() == "60.0 s of CPU used, 25.0 s stolen by the hypervisor (25% of the cores' time), 15.0 s idle"


def test_a_kernel_without_the_steal_column_reads_as_none_stolen():
    assert machine.parse("cpu  100 0 50 400 0 0 0\n", 100) == machine.CpuTimes(busy=1.5, idle=4.0, steal=0.0)


def test_no_cpu_line_is_an_error_and_no_proc_stat_is_none(tmp_path, monkeypatch):
    with pytest.raises(ValueError):
        machine.parse("intr 1 2 3\n", 100)
    monkeypatch.setattr(machine, "PROC_STAT", tmp_path / "absent")
    assert machine.cpu_times() is None


def test_the_running_machine_reads():
    times = machine.cpu_times()
    assert times is not None and times.busy > 0


def test_since_is_the_difference_to_now_or_none_without_a_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "PROC_STAT", tmp_path / "stat")
    (tmp_path / "stat").write_text("cpu  300 0 0 500 0 0 0 40\n")
    started = machine.cpu_times()
    (tmp_path / "stat").write_text("cpu  900 0 0 700 0 0 0 90\n")
    ticks = machine.os.sysconf("SC_CLK_TCK")
    assert machine.since(started) == machine.CpuTimes(busy=600 / ticks, idle=200 / ticks, steal=50 / ticks)
    assert machine.since(None) is None
    (tmp_path / "stat").unlink()
    assert machine.since(started) is None
