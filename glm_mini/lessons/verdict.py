"""The lesson lines of notebook 07, computed from the measured numbers: ``lesson <name>: shown (...)`` or
``lesson <name>: not shown (...)``.

How it works
------------
Each lesson compares means over the reference seeds (``glm_mini.reference``) with a margin fixed before measuring
(the issue's "Done when"; ``MARGIN`` = 15 points):

- **bidirectional** is shown when, on the right-context split, GLM in one pass beats both the causal twin reading
  from the left and the best left-context rule by at least ``MARGIN``, *and* on validation tokens fixed by their right
  neighbour GLM's single-token ``[MASK]`` fill beats the causal twin's left-to-right prediction by at least
  ``MARGIN``;
- **mip** is shown when, on held-out people, the model trained with MIP beats its twin without MIP by at least
  ``MARGIN`` in answer format or in accuracy (in either template kind);
- **gmask** is shown when GLM completes and ends the countdowns at least ``MIN_COMPLETION`` of the time and beats by
  at least ``MARGIN`` its twin trained without ``[gMASK]`` rows (the ablation the issue names), which fills a
  ``[MASK]`` at the end of the prompt instead; the causal twin, a model trained only for left-to-right generation,
  is printed beside them (parity with it is what GLM-130B's 70% ``[gMASK]`` rows aim at).

A mean over seeds is given with its spread (max - min) so a reader sees whether the margin exceeds the seed noise.
"""

from __future__ import annotations

from statistics import mean

MARGIN = 0.15
MIN_COMPLETION = 0.5


def spread(values: list[float]) -> str:
    """``"48.3% ± 2.1 (n seeds)"``: the mean and half the range, in points."""
    m = mean(values)
    half = (max(values) - min(values)) / 2
    return f"{100 * m:.1f}% ± {100 * half:.1f} ({len(values)} seed{'s' * (len(values) != 1)})"


def _line(name: str, shown: bool, detail: str) -> str:
    return f"lesson {name}: {'shown' if shown else 'not shown'} ({detail})"


def bidirectional_line(glm_one_pass: list[float], causal_left: list[float], best_left_rule: float,
                       best_rule_name: str, glm_fill: list[float], causal_fill: list[float]) -> str:
    margin_causal = mean(glm_one_pass) - mean(causal_left)
    margin_rule = mean(glm_one_pass) - best_left_rule
    margin_fill = mean(glm_fill) - mean(causal_fill)
    shown = min(margin_causal, margin_rule, margin_fill) >= MARGIN
    return _line("bidirectional", shown,
                 f"right-context blanks: GLM one pass {spread(glm_one_pass)} vs causal from the left "
                 f"{spread(causal_left)} ({100 * margin_causal:+.1f} points) vs best left rule '{best_rule_name}' "
                 f"{100 * best_left_rule:.1f}% ({100 * margin_rule:+.1f}); right-neighbour tokens: [MASK] fill "
                 f"{spread(glm_fill)} vs causal {spread(causal_fill)} ({100 * margin_fill:+.1f}); margin needed "
                 f"{100 * MARGIN:.0f}")


def mip_line(with_mip: dict[str, list[float]], without: dict[str, list[float]]) -> str:
    """``with_mip`` / ``without``: measure name (e.g. "format, held-out template") -> one value per seed."""
    gains = {k: mean(with_mip[k]) - mean(without[k]) for k in with_mip}
    best = max(gains, key=gains.get)
    shown = gains[best] >= MARGIN
    others = ", ".join(f"{k} {100 * g:+.1f}" for k, g in gains.items() if k != best)
    return _line("mip", shown, f"held-out people, {best}: with MIP {spread(with_mip[best])} vs without "
                               f"{spread(without[best])} ({gains[best] * 100:+.1f} points; margin needed "
                               f"{100 * MARGIN:.0f}){'; other measures: ' + others if others else ''}")


def gmask_line(glm_completed: list[float], no_gmask_completed: list[float], causal_completed: list[float]) -> str:
    gain = mean(glm_completed) - mean(no_gmask_completed)
    gap = mean(glm_completed) - mean(causal_completed)
    shown = mean(glm_completed) >= MIN_COMPLETION and gain >= MARGIN
    return _line("gmask", shown, f"countdowns completed and ended: GLM [gMASK] {spread(glm_completed)} vs the twin "
                                 f"without [gMASK] rows {spread(no_gmask_completed)} ({100 * gain:+.1f} points; "
                                 f"needed: at least {100 * MIN_COMPLETION:.0f}% and {100 * MARGIN:.0f} points above); "
                                 f"causal twin {spread(causal_completed)} ({100 * gap:+.1f})")
