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


def _run(victim, tmp_path, mode):
    """Launch 2 ranks; return (processes, seconds from the victim's failure to the survivor's exit, its stderr)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE="2", OMP_NUM_THREADS="1")
    worker = [sys.executable, str(REPO / "tests" / "fault_worker.py"), str(victim), str(tmp_path), mode]
    procs = [subprocess.Popen(worker, cwd=REPO, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    survivor = 1 - victim
    try:
        procs[survivor].wait(timeout=DEADLINE_S)
        exited_at = time.time()
        if mode == "kill":
            procs[victim].wait(timeout=5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return procs, exited_at - float((tmp_path / "killed_at").read_text()), procs[survivor].stderr.read()


@pytest.mark.parametrize("victim", [1, 0])
def test_killed_rank_is_named_and_nobody_hangs(victim, tmp_path):
    procs, latency, stderr = _run(victim, tmp_path, "kill")
    survivor = 1 - victim
    expected = f"rank(s) [{victim}] stopped" if victim else "rank 0, its host, stopped"
    print(f"killed rank {victim}: rank {survivor} exited {latency:.2f} s later: "
          f"{stderr.strip().splitlines()[-1][:150]}")
    assert procs[victim].returncode == -signal.SIGKILL
    assert procs[survivor].returncode == 1, stderr[-2000:]
    assert f"RankFailure: rank {survivor}: a collective failed because" in stderr and expected in stderr
    assert latency < 10.0


def test_a_stuck_rank_ends_in_the_short_timeout_not_a_hang(tmp_path):
    """Rank 1 stays alive but never joins the collective: rank 0 stops after the 3 s process-group timeout."""
    procs, latency, stderr = _run(1, tmp_path, "hang")
    print(f"stuck rank 1: rank 0 exited {latency:.2f} s later: {stderr.strip().splitlines()[-1][:150]}")
    assert procs[0].returncode == 1, stderr[-2000:]
    assert "no rank stopped its heartbeat: a rank is stuck, or the collective timed out" in stderr
    assert latency < 15.0


def test_one_process_raises_rank_failure_when_asked_and_bad_inputs(monkeypatch):
    from scale_up.fault_tolerance import RankFailure, fail_fast, init_distributed, shutdown_distributed

    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match=r"init_distributed: environment variables \['RANK'"):
        init_distributed()
    with pytest.raises(ValueError, match="timeout_s: expected seconds > 0"):
        init_distributed(timeout_s=0)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    with pytest.raises(ValueError, match="heartbeat_s: expected seconds > 0"):
        init_distributed(heartbeat_s=0)
    init_distributed(timeout_s=5, heartbeat_s=0.05)
    try:
        with pytest.raises(RankFailure, match="no rank stopped its heartbeat") as failure:
            with fail_fast(exit_process=False):
                raise RuntimeError("a collective timed out")
        assert failure.value.dead_ranks == [] and "a collective timed out" in str(failure.value)
        with pytest.raises(KeyError):  # not a collective's error: passed through untouched
            with fail_fast(exit_process=False):
                raise KeyError("x")
    finally:
        shutdown_distributed()


def test_only_distributed_failures_are_turned_into_a_rank_failure():
    """An OOM or a shape error is the computation's own error: fail_fast lets it through with its traceback."""
    import torch
    import torch.distributed as dist

    from scale_up.fault_tolerance import is_distributed_failure

    gloo = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]")
    assert is_distributed_failure(gloo)
    assert is_distributed_failure(dist.DistBackendError("NCCL communicator was aborted"))
    assert not is_distributed_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"))
    assert not is_distributed_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_distributed_failure(ValueError("input_ids: expected shape [batch, seq]"))


def test_fail_fast_passes_a_computation_error_through(monkeypatch, capsys):
    import scale_up.fault_tolerance as ft

    class Beat:  # a heartbeat that must not be consulted for a non-distributed error
        rank, interval = 0, 0.1

        def silent_ranks(self):
            raise AssertionError("fail_fast treated a shape error as a distributed failure")

    monkeypatch.setattr(ft, "_HEARTBEAT", Beat())
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        with ft.fail_fast(exit_process=False):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(ft.RankFailure) as info:
        monkeypatch.setattr(Beat, "silent_ranks", lambda self: [1])
        with ft.fail_fast(exit_process=False):
            raise RuntimeError("Connection reset by peer")
    assert info.value.dead_ranks == [1] and "Connection reset by peer" in str(info.value)
    err = capsys.readouterr().err  # the original traceback is printed before the verdict
    assert "Traceback (most recent call last)" in err and "RuntimeError: Connection reset by peer" in err
