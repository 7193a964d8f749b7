"""python -m scale_up.plan with a GPU given by memory and peak FLOP/s instead of by name."""

import pytest

from glm_mini import PRESETS
from scale_up.gpus import GPU
from scale_up.plan import inference_plan, main, training_plan


def test_custom_gpu_equals_the_gpu_object(capsys):
    argv = ["inference", "--gpu-memory-gib", "48", "--gpu-peak-tflops", "150", "--tp", "4", "--bits", "8"]
    assert main(argv) == 0
    expected = inference_plan(PRESETS["glm-130b"], GPU("custom", 48 << 30, 150e12), 4, 8).table()
    assert capsys.readouterr().out.strip() == expected
    assert main(["training", "--gpu-memory-gib", "80", "--gpu-peak-tflops", "989", "--iteration-seconds", "30"]) == 0
    plan = training_plan(PRESETS["glm-130b"], 24, 4, 8, 176, 1, 2048, GPU("custom", 80 << 30, 989e12))
    assert f"MFU {plan.mfu(30):.1%}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["inference", "--tp", "4"], "--gpu: required"),
    (["inference", "--tp", "4", "--gpu-memory-gib", "48"], "--gpu / --gpu-memory-gib / --gpu-peak-tflops"),
    (["inference", "--tp", "4", "--gpu", "rtx3090", "--gpu-memory-gib", "48", "--gpu-peak-tflops", "9"],
     "--gpu / --gpu-memory-gib"),
    (["inference", "--tp", "4", "--gpu-memory-gib", "-1", "--gpu-peak-tflops", "9"],
     "--gpu-memory-gib: expected a positive finite number"),
])
def test_bad_gpu_flags_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err
