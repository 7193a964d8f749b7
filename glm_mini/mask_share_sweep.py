"""The [MASK] share trade-off: the reference ``glm`` recipe trained at several [MASK] shares, and what each shows.

How it works
------------
GLM-130B gives 30% of its self-supervised rows to ``[MASK]`` (short spans, which see the text to their right) and 70%
to ``[gMASK]`` (a long suffix, generated left to right) (paper §2.2; docs/glm130b_facts.md). A small model's two
lessons pull that share in opposite directions: more ``[MASK]`` rows give more right-context targets (the
bidirectional lesson), more ``[gMASK]`` rows more practice at long generation (the gmask lesson). ``run_sweep``
trains the reference ``glm`` recipe (``glm_mini.reference.recipe``) with only ``mask_share`` changed, for every
share of ``SHARES`` and seeds ``0..seeds-1``, measures each run as the shipped models are (``reference.measure``:
right-context blanks, right-neighbour fill, facts, countdown completion) and writes ``RESULTS``
(``data/reference/mask-share-sweep.json``: recipe, command, git commit, every run's metrics). A finished run in
``RUNS`` is reused. ``tradeoff`` reads, per share, the two numbers the lessons' thresholds are about
(``glm_mini.lessons.verdict``): the fill's margin over the causal twin and the share of countdowns completed.

``python -m glm_mini.mask_share_sweep`` (not part of ``make test``; about 10 minutes a run on one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from statistics import mean

from glm_mini.lessons.verdict import MARGIN, MIN_COMPLETION
from glm_mini.reference import (BUILD_DIR, LESSON_CORPUS, REFERENCE_DIR, add_run_arguments, git_commit, measure,
                                read_manifest_file, recipe, train_run)
from glm_mini.training.checkpoint import write_atomic

SHARES = (0.5, 0.6, 0.7)
RESULTS = REFERENCE_DIR / "mask-share-sweep.json"
RUNS = BUILD_DIR / "mask-share"
COMMAND = "python -m glm_mini.mask_share_sweep"


def share_recipe(share: float, seed: int, out_root: str | Path = RUNS):
    """The reference ``glm`` recipe with ``mask_share`` = ``share``."""
    if not (isinstance(share, (int, float)) and 0 <= share <= 1):
        raise ValueError(f"share: expected a [MASK] share in [0, 1], got {share!r}")
    return dataclasses.replace(recipe("glm", seed), mask_share=float(share),
                               out=str(Path(out_root) / f"glm-ms{share:g}-seed{seed}"))


def run_sweep(shares=SHARES, seeds: int = 2, out_root: str | Path = RUNS, results: str | Path = RESULTS,
              threads: int = 1, progress: bool | None = False) -> dict:
    """Train (or reuse) and measure every (share, seed) run, then write ``results`` atomically."""
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    def measure_run(model, run_dir):
        return measure(model, default_tokenizer(model.config.vocab_size, LESSON_CORPUS), "glm", run_dir)

    runs = {}
    for share in shares:
        runs[f"{share:g}"] = [{"seed": seed, "metrics": train_run(share_recipe(share, seed, out_root), measure_run,
                                                                  threads, progress)[1]["metrics"]}
                              for seed in range(seeds)]
    base = {k: v for k, v in recipe("glm").to_json().items() if k not in ("out", "resume", "mask_share")}
    sweep = {"recipe": base, "shares": list(shares), "command": f"{COMMAND} --seeds {seeds}",
             "git_commit": git_commit(), "runs": runs}
    text = json.dumps(sweep, indent=1) + "\n"
    write_atomic(Path(results), lambda f: f.write(text.encode()))
    return sweep


def load_sweep(path: str | Path = RESULTS) -> dict:
    return read_manifest_file(path, "the [MASK] share sweep", f"`{COMMAND}`")


def tradeoff(sweep: dict, causal_fill: list[float]) -> list[dict]:
    """Per share: the right-neighbour fill (mean, per seed) and its margin over the causal twin's ``causal_fill``,
    the countdowns completed, and whether each clears its lesson's threshold (``MARGIN``, ``MIN_COMPLETION``)."""
    rows = []
    for share, runs in sweep["runs"].items():
        fill = [r["metrics"]["right_neighbour_fill"]["GLM [MASK]"] for r in runs]
        done = [r["metrics"]["completion"]["completed"] for r in runs]
        one_pass = [r["metrics"]["right_context"]["GLM, one pass"] for r in runs]
        margin = mean(fill) - mean(causal_fill)
        rows.append({"share": float(share), "fill": fill, "fill_margin": margin, "completed": done,
                     "right_context": one_pass, "fill_clears": margin >= MARGIN,
                     "completion_clears": mean(done) >= MIN_COMPLETION})
    return rows


def sweep_table(sweep: dict, causal_fill: list[float]) -> str:
    """The sweep as a markdown table (the block of ``docs/reference_models.md`` that
    ``glm_mini.reference.update_docs`` writes): per share, each seed's numbers and the two lesson margins."""
    def per_seed(values: list[float]) -> str:
        return " / ".join(f"{100 * v:.1f}" for v in values)

    rows = ["| [MASK] share | right-context, one pass | right-neighbour fill | fill minus causal (points) "
            "| countdowns completed | val loss |", "|---|---|---|---|---|---|"]
    for row, runs in zip(tradeoff(sweep, causal_fill), sweep["runs"].values()):
        val = " / ".join(f"{r['metrics']['val_loss']:.3f}" for r in runs)
        rows.append(f"| {row['share']:.1f} | {per_seed(row['right_context'])} | {per_seed(row['fill'])} "
                    f"| {100 * row['fill_margin']:+.1f} | {per_seed(row['completed'])} | {val} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    p.add_argument("--shares", nargs="+", type=float, default=list(SHARES))
    add_run_arguments(p, "train seeds 0..SEEDS-1 at every share", RUNS, "--results", RESULTS)
    args = p.parse_args(argv)
    sweep = run_sweep(tuple(args.shares), args.seeds, args.out, args.results, args.threads, args.progress)
    print(f"{args.results}: {sum(len(r) for r in sweep['runs'].values())} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
