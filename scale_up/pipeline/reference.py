"""The single-process twin of a ``python -m scale_up.pipeline`` run: what its parallel results must equal.

How it works
------------
Given the same command-line flags, ``single_process_run`` builds the same ``GLM`` (same seed, same config), the same
batch per step (``example_batch`` with seed ``--seed`` + step), the same loss (glm_mini's ``masked_cross_entropy``:
token mean over the loss mask) and the same optimizer, and trains ``--max-steps`` steps in one process, whole batch at
once. It returns the last step's loss and gradients and the parameters after the last step, by full-model name.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glm_mini import GLM

from glm_mini.training.step import masked_cross_entropy

from ..devices import rank_device
from .example_batch import example_batch
from .options import model_config, parse_args


def single_process_run(argv: list[str]) -> tuple[float, dict[str, Tensor], dict[str, Tensor]]:
    """(last loss, last gradients, parameters after the last step) of the run ``argv`` describes, in one process on
    its ``--device``; the tensors come back on the CPU."""
    args = parse_args(["--out", "unused", *argv])
    device = rank_device(args.device)
    torch.manual_seed(args.seed)
    model = GLM(model_config(args)).to(device)
    optimizer_cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.SGD
    optimizer = optimizer_cls(model.parameters(), lr=args.lr)
    for step in range(args.steps):
        b = {k: v.to(device) for k, v in example_batch(model.config, args.batch_size, args.seq_len,
                                                      seed=args.seed + step).items()}
        optimizer.zero_grad()
        logits = model(b["input_ids"], position_ids=b["position_ids"], attention_mask=b["attention_mask"]).logits
        loss = masked_cross_entropy(logits, b["targets"], b["loss_mask"])
        loss.backward()
        grads = {n: p.grad.cpu().clone() for n, p in model.named_parameters()}
        optimizer.step()
    return loss.item(), grads, {n: p.detach().cpu().clone() for n, p in model.named_parameters()}
