"""collective_save: every rank agrees before and after writing, so a checkpoint appears whole or not at all and no
rank waits for one that failed; a crashed save's partial folder is never reused."""

import json

from distributed_launch import run_workers

from scale_up.collective_save import LOCAL, save_collectively


def worker(rank, world, folder):
    outcome = {}

    def write_ok(partial):
        (partial / f"rank_{rank}.txt").write_text("done")

    def write_fails_on_rank_1(partial):
        if rank == 1:
            raise OSError("No space left on device")
        write_ok(partial)

    save_collectively(folder, "a", write_ok)
    for label, name, write in (("exists", "a", write_ok), ("disk_full", "b", write_fails_on_rank_1)):
        try:
            save_collectively(folder, name, write)
            outcome[label] = "saved"
        except (FileExistsError, OSError, RuntimeError) as err:
            outcome[label] = f"{type(err).__name__}: {err}"
    (folder.parent / f"outcome_{rank}.json").write_text(json.dumps(outcome))


def test_ranks_agree_on_an_existing_target_and_on_a_failed_write(tmp_path):
    folder = tmp_path / "ckpt"
    run_workers(worker, 2, folder, timeout=60)
    outcomes = [json.loads((tmp_path / f"outcome_{r}.json").read_text()) for r in range(2)]
    assert all(o["exists"].startswith("FileExistsError") for o in outcomes)
    assert outcomes[1]["disk_full"] == "OSError: No space left on device"
    assert outcomes[0]["disk_full"].startswith("RuntimeError") and "1 other rank(s) failed" in outcomes[0]["disk_full"]
    assert sorted(p.name for p in folder.iterdir()) == ["a"]  # no "b", no partial folder left behind
    assert sorted(p.name for p in (folder / "a").iterdir()) == ["rank_0.txt", "rank_1.txt"]


def test_a_crashed_partial_folder_is_not_reused(tmp_path):
    stale = tmp_path / ".a.partial-old"
    stale.mkdir()
    (stale / "rank_0.txt").write_text("half")
    published = []
    path = save_collectively(tmp_path, "a", lambda p: (p / "rank_0.txt").write_text("new"),
                             lambda: published.append(True), group=LOCAL)
    assert (path / "rank_0.txt").read_text() == "new" and published == [True] and not stale.exists()
