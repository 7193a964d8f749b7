"""scale_up.peak_rss: the high-water mark in bytes on Linux (KiB units) and macOS (byte units), and a measured peak."""

import sys
from pathlib import Path

import pytest

from scale_up.peak_rss import high_water_mark, maxrss_bytes, peak_rss


def test_ru_maxrss_units_are_kib_on_linux_and_bytes_on_macos():
    assert maxrss_bytes(100, "linux") == 102400
    assert maxrss_bytes(100, "darwin") == 100
    with pytest.raises(RuntimeError, match="not for 'win32'"):
        maxrss_bytes(100, "win32")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc gives the reference value")
def test_high_water_mark_reads_linux_vmhwm_in_bytes():
    with open("/proc/self/status") as status:
        vmhwm = int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024
    assert abs(high_water_mark() - vmhwm) <= 4 << 20


def test_peak_rss_sees_what_the_command_allocates_even_when_the_caller_is_large(tmp_path, monkeypatch):
    (tmp_path / "allocate_mib.py").write_text(
        "def main(argv):\n"
        "    block = bytearray(int(argv[0]) << 20)\n"
        "    for i in range(0, len(block), 4096):  # write one byte per page: every page becomes resident\n"
        "        block[i] = 1\n"
        "    return len(block)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    caller = bytearray(400 << 20)  # the caller holds more than the command will: its peak must not leak into it
    for i in range(0, len(caller), 4096):
        caller[i] = 1
    rss = peak_rss("allocate_mib", ["200"])
    added = (rss["peak"] - rss["baseline"]) / 2**20
    # the baseline is a high-water mark: memory that imports touched and freed (measured ~12 MiB here) is reused
    # before the mark rises, so the rise can fall short of 200 MiB by that much
    assert 200 - 32 <= added <= 200 + 32, f"the command added {added:.0f} MiB for a 200 MiB bytearray"
    del caller
