"""Bad input to the planner and the dry run (``scale_up.plan``, ``scale_up.dry_run``): an impossible degree, GPU or
time is named by the flag that gave it (no ZeroDivisionError, OverflowError or IndexError), and every layout that
exists gets its plan."""

import pytest
from bad_input_cases import error, params, right, run
from hostile_files import CLIRefused, cli

from glm_mini import PRESETS
from scale_up.dry_run import dry_run, main as dry_run_main
from scale_up.gpus import GPU
from scale_up.plan import inference_plan, main as plan_main, training_plan

GLM130B, NANO = PRESETS["glm-130b"], PRESETS["nano"]


def plan(*argv):
    return cli(plan_main, lambda ctx: list(argv))


def dry(*argv):
    return cli(dry_run_main, lambda ctx: list(argv))


CUSTOM = ("inference", "--tp", "8", "--gpu-peak-tflops", "100")

CASES = [
    error("gpu-memory-inf", plan(*CUSTOM, "--gpu-memory-gib", "inf"), CLIRefused, "--gpu-memory-gib", "inf"),
    error("gpu-memory-nan", plan(*CUSTOM, "--gpu-memory-gib", "nan"), CLIRefused, "--gpu-memory-gib"),
    error("gpu-memory-zero", plan(*CUSTOM, "--gpu-memory-gib", "0"), CLIRefused, "--gpu-memory-gib"),
    error("gpu-memory-below-context", plan(*CUSTOM, "--gpu-memory-gib", "0.25"), CLIRefused, "context_bytes"),
    error("gpu-tflops-inf", plan("inference", "--tp", "8", "--gpu-memory-gib", "40", "--gpu-peak-tflops",
                                 "inf"), CLIRefused, "--gpu-peak-tflops"),
    error("num-gpus-zero", plan("inference", "--gpu", "a100-40g", "--tp", "0"), CLIRefused, "num_gpus"),
    error("num-gpus-not-dividing-heads", plan("inference", "--gpu", "a100-40g", "--tp", "7"), CLIRefused,
          "num_gpus=7"),
    error("training-pp-beyond-layers", plan("training", "--pp", "80"), CLIRefused, "pp=80"),
    error("training-micro-batches-zero", plan("training", "--micro-batches", "0"), CLIRefused, "micro_batches"),
    error("iteration-seconds-nan", plan("training", "--iteration-seconds", "nan"), CLIRefused, "iteration_seconds"),
    error("iteration-seconds-inf", plan("training", "--iteration-seconds", "inf"), CLIRefused, "iteration_seconds"),
    error("seq-len-beyond-model", plan("inference", "--gpu", "a100-40g", "--tp", "8", "--seq-len", "4096"),
          CLIRefused, "seq_len"),
    error("dry-run-pp-beyond-layers", dry("--preset", "glm-130b", "--pp", "71"), CLIRefused, "pp", "70"),
    error("dry-run-tp-not-dividing", dry("--preset", "nano", "--tp", "3"), CLIRefused, "tp", "num_attention_heads"),
    error("dry-run-tp-zero", dry("--preset", "nano", "--tp", "0"), CLIRefused, "tp"),
    error("dry-run-pp-zero", dry("--preset", "nano", "--pp", "0"), CLIRefused, "pp"),
    error("dry-run-rank-outside", lambda ctx: dry_run(NANO, tp=2, tp_ranks=[2]), ValueError, "tp_ranks"),
    error("plan-gpu-unknown", lambda ctx: inference_plan(GLM130B, "a100", 8, 16), ValueError, "gpu", "a100-40g"),
    error("custom-gpu-inf", lambda ctx: GPU("x", float("inf"), 1e12), ValueError, "GPU.memory_bytes"),
    right("dry-run-mini-pp4", dry("--preset", "mini", "--tp", "1", "--pp", "4"), lambda code, ctx: code == 0),
    right("dry-run-glm130b-pp70", dry("--preset", "glm-130b", "--pp", "70"), lambda code, ctx: code == 0),
    right("dry-run-default-tp-for-nano", dry("--preset", "nano"), lambda code, ctx: code == 0),
    right("dry-run-stages-never-empty", lambda ctx: dry_run(PRESETS["mini"], tp=1, pp=4),
          lambda parts, ctx: [p.layers for p in parts] == [(0,), (1,), (2,), (3,)]),
    right("training-plan-70-stages", lambda ctx: training_plan(GLM130B, 1, 8, 70, 70, 1, 2048, "a100-80g"),
          lambda plan, ctx: plan.stage_layers == (1,) * 70),
]


@pytest.mark.parametrize("case", params(CASES))
def test_plan_case(case):
    run(case, None)
