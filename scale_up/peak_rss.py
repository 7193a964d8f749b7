"""Peak host memory of one command, measured in a fresh subprocess: ``peak_rss(module, argv)``.

How it works
------------
Linux keeps each process's resident-set high-water mark in ``/proc/self/status`` (``VmHWM``, in kB). The subprocess
imports ``module`` (so the interpreter, torch and the module are loaded), reads VmHWM as its *baseline*, runs
``module.main(argv)`` and reads VmHWM again as its *peak*: ``peak − baseline`` is what the command itself added on
top of a Python process with torch loaded. Memory-mapped file pages the command touched count as resident, like any
other page. Linux only (the converter's peak-RAM claim is about the machines GLM-130B is served from).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import importlib, json, sys
def hwm():
    with open('/proc/self/status') as status:
        return int(next(l for l in status if l.startswith('VmHWM')).split()[1]) * 1024
module = importlib.import_module(sys.argv[1])
baseline = hwm()
module.main(sys.argv[2:])
print(json.dumps({"baseline": baseline, "peak": hwm()}))
"""


def peak_rss(module: str, argv: list[str], timeout: float = 600) -> dict[str, int]:
    """``{"baseline": bytes, "peak": bytes}`` of ``python -c ... module.main(argv)`` in a fresh subprocess."""
    if not Path("/proc/self/status").is_file():
        raise RuntimeError("peak_rss: needs Linux's /proc/self/status (VmHWM)")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", SCRIPT, module, *argv], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"peak_rss: {module} {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
