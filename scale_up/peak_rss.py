"""Peak host memory of one command, measured in a fresh subprocess: ``peak_rss(module, argv)``.

How it works
------------
The kernel keeps each process's resident-set high-water mark; ``high_water_mark()`` reads it in bytes:

- Linux: ``VmHWM`` in ``/proc/self/status`` (kB). Not ``getrusage``'s ``ru_maxrss``: Linux carries that value over
  ``exec`` from the process image it replaces, and ``subprocess`` starts the child from a copy of the parent (vfork or
  fork), so a child of a large process (a pytest run, a notebook kernel) starts with the parent's peak as its own
  (measured: a 200 MiB allocation in such a child raised ``ru_maxrss`` by 0). ``VmHWM`` belongs to the new address
  space that ``exec`` creates, so it starts from the child's own pages.
- macOS: ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, in bytes there (getrusage(2) of each system: KiB on Linux,
  bytes on macOS; ``maxrss_bytes`` converts).

The subprocess imports ``module`` (so the interpreter, torch and the module are loaded), reads the mark as its
*baseline*, runs ``module.main(argv)`` and reads it again as its *peak*: ``peak − baseline`` is what the command
itself added on top of a Python process with torch loaded. Memory-mapped file pages the command touched count as
resident, like any other page. Windows has neither: there ``peak_rss`` raises, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MAXRSS_UNIT = {"linux": 1024, "darwin": 1}  # bytes per ru_maxrss unit: KiB on Linux, bytes on macOS

SCRIPT = """
import importlib, json, sys
from scale_up.peak_rss import high_water_mark
module = importlib.import_module(sys.argv[1])
baseline = high_water_mark()
module.main(sys.argv[2:])
print(json.dumps({"baseline": baseline, "peak": high_water_mark()}))
"""


def maxrss_bytes(ru_maxrss: int, platform: str = sys.platform) -> int:
    """``ru_maxrss`` in bytes on ``platform`` (``sys.platform``: ``linux``, ``darwin``)."""
    unit = MAXRSS_UNIT.get("linux" if platform.startswith("linux") else platform)
    if unit is None:
        raise RuntimeError(f"peak_rss: ru_maxrss units are known for Linux and macOS, not for {platform!r}")
    return ru_maxrss * unit


def high_water_mark() -> int:
    """This process's peak resident memory so far, in bytes (see the module docstring for why Linux reads /proc)."""
    if sys.platform.startswith("linux"):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024
    try:
        import resource
    except ImportError:  # Windows
        raise RuntimeError(f"peak_rss: needs /proc (Linux) or the resource module (macOS); {sys.platform} has "
                           "neither") from None
    return maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss(module: str, argv: list[str], timeout: float = 600) -> dict[str, int]:
    """``{"baseline": bytes, "peak": bytes}`` of ``python -c ... module.main(argv)`` in a fresh subprocess."""
    high_water_mark()  # fail here, not in the subprocess, on a platform without it
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", SCRIPT, module, *argv], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"peak_rss: {module} {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
