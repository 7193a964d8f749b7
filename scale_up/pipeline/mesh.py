"""DP × TP × PP on one device mesh: the process groups of a combined layout, and this rank's pipeline on them.

How it works
------------
The world is a mesh of shape (pp, dp, tp), tensor parallel fastest, as in GLM-130B's DeepSpeed topology (pipe,
data, model; docs/glm130b_facts.md §3): the tp ranks of one stage of one replica are neighbours (on a GPU node they
share NVLink), pipeline neighbours are dp·tp ranks apart. ``init_device_mesh`` makes the three families of groups;
one more family pairs, for every (dp, tp) coordinate, the rank of the first stage with the rank of the last, to sum
the tied embedding's gradients. ``dist.new_group`` must be called by every rank for every group in the same order,
so all pairs are created on all ranks and each rank keeps its own.
"""

from __future__ import annotations

import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from glm_mini import GLM

from .schedule import Pipeline, build_pipeline
from .tied_embedding import tied_embedding_ranks


def check_layout(dp: int, tp: int, pp: int, world_size: int) -> None:
    """ValueError naming the degree when dp × tp × pp is not the world size."""
    for name, value in (("dp", dp), ("tp", tp), ("pp", pp)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if dp * tp * pp != world_size:
        raise ValueError(f"dp x tp x pp = {dp} x {tp} x {pp} = {dp * tp * pp} does not match the world size "
                         f"{world_size}")


def parallel_mesh(dp: int, tp: int, pp: int) -> DeviceMesh:
    """The (pp, dp, tp) mesh over the whole world (gloo on CPU, nccl on CUDA)."""
    check_layout(dp, tp, pp, dist.get_world_size())
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    return init_device_mesh(device, (pp, dp, tp), mesh_dim_names=("pp", "dp", "tp"))


def tie_group_of_this_rank(mesh: DeviceMesh, num_stages: int):
    """Create every (first stage, last stage) pair group on all ranks; return the one holding this rank, or None."""
    ranks = mesh.mesh  # [pp, dp, tp] global ranks
    mine = None
    for d in range(ranks.shape[1]):
        for t in range(ranks.shape[2]):
            pair = tied_embedding_ranks(ranks[:, d, t].tolist(), num_stages)
            if len(pair) == 2:
                group = dist.new_group(pair)
                if dist.get_rank() in pair:
                    mine = group
    return mine


def build_parallel_pipeline(model: GLM, dp: int, tp: int, pp: int, schedule: str = "1f1b",
                            n_microbatches: int = 4, virtual_stages: int | None = None,
                            record: bool = False, device=None, precision: str = "fp32") -> tuple[Pipeline, DeviceMesh]:
    """This rank's pipeline of ``model`` on the DP × TP × PP layout (pp ≥ 1; tp, dp ≥ 1), and the mesh.

    ``device``: where this rank's stages run (default: the model's; with NCCL, this rank's CUDA device)."""
    mesh = parallel_mesh(dp, tp, pp)
    interleaved = schedule == "interleaved-1f1b"
    num_stages = pp * ((virtual_stages or 2) if interleaved else 1)
    tie = tie_group_of_this_rank(mesh, num_stages)
    pipe = build_pipeline(model, schedule, n_microbatches, group=mesh["pp"].get_group(),
                          virtual_stages=virtual_stages, record=record, tie_group=tie,
                          tp_group=mesh["tp"].get_group() if tp > 1 else None,
                          dp_group=mesh["dp"].get_group() if dp > 1 else None, device=device,
                          precision=precision)
    return pipe, mesh
