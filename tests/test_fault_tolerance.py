"""A rank killed in the middle of a tensor-parallel step: the survivor exits within seconds naming it, no hang."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distributed_launch import free_port

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0  # the whole scenario, interpreter start included


@pytest.mark.parametrize("victim", [1, 0])
def test_killed_rank_is_named_and_nobody_hangs(victim, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE="2", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(REPO / "tests" / "fault_worker.py"), str(victim), str(tmp_path)],
                              cwd=REPO, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stderr=subprocess.PIPE,
                              text=True) for r in range(2)]
    survivor = 1 - victim
    try:
        procs[survivor].wait(timeout=DEADLINE_S)
        exited_at = time.time()
        procs[victim].wait(timeout=5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stderr = procs[survivor].stderr.read()
    latency = exited_at - float((tmp_path / "killed_at").read_text())
    expected = f"rank(s) [{victim}] stopped" if victim else "rank 0, its host, stopped"
    print(f"killed rank {victim}: rank {survivor} exited {latency:.2f} s later: "
          f"{stderr.strip().splitlines()[-1][:150]}")
    assert procs[victim].returncode == -signal.SIGKILL
    assert procs[survivor].returncode == 1, stderr[-2000:]
    assert f"RankFailure: rank {survivor}: a collective failed because" in stderr and expected in stderr
    assert latency < 10.0
