"""Device placement without a GPU: --device resolves as glm_mini's trainer does, NCCL only with CUDA, and a pipeline
puts every stage, and the scalars its collectives use, on the device it is given (``meta`` stands in for CUDA)."""

import pytest
import torch
import torch.distributed as dist

from glm_mini import GLM, PRESETS
from scale_up.devices import backend_for, rank_device
from scale_up.pipeline import build_pipeline


def test_cpu_and_auto_without_cuda_use_gloo():
    assert rank_device("cpu") == torch.device("cpu") and backend_for(torch.device("cpu")) == "gloo"
    if not torch.cuda.is_available():
        assert rank_device("auto").type == "cpu"
    assert backend_for(torch.device("cuda", 0)) == "nccl"  # decided from the device alone: no GPU needed


def test_impossible_pairs_are_refused():
    with pytest.raises(ValueError, match="--backend nccl: NCCL moves CUDA tensors only"):
        backend_for(torch.device("cpu"), "nccl")
    with pytest.raises(ValueError, match="--device"):
        rank_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            rank_device("cuda")


def test_a_pipeline_places_its_stages_on_the_given_device():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        pipe = build_pipeline(GLM(PRESETS["nano"]), "gpipe", 1, device="meta")
        assert pipe.device == torch.device("meta")
        assert all(p.is_meta for p in pipe.parameters()) and len(pipe.parameters()) > 0
        pipe_cpu = build_pipeline(GLM(PRESETS["nano"]), "gpipe", 1)  # default: the model's own device
        assert all(p.device.type == "cpu" for p in pipe_cpu.parameters())
    finally:
        dist.destroy_process_group()
