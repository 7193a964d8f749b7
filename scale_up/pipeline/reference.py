"""The single-process twin of a ``python -m scale_up.pipeline`` run: what its parallel results must equal.

How it works
------------
Given the same command-line flags, ``single_process_run`` builds the same ``GLM`` (same seed, same config), the same
batch per step (``example_batch`` with seed ``--seed`` + step), the same loss (``glm_loss``: token mean over the loss
mask) and the same optimizer, and trains ``--steps`` steps in one process, whole batch at once. It returns the last
step's loss and gradients and the parameters after the last step, by full-model name.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glm_mini import GLM

from .__main__ import model_config, parse_args
from .example_batch import example_batch
from .loss import glm_loss


def single_process_run(argv: list[str]) -> tuple[float, dict[str, Tensor], dict[str, Tensor]]:
    """(last loss, last gradients, parameters after the last step) of the run ``argv`` describes, in one process."""
    args = parse_args(["--out", "unused", *argv])
    torch.manual_seed(args.seed)
    model = GLM(model_config(args))
    optimizer_cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.SGD
    optimizer = optimizer_cls(model.parameters(), lr=args.lr)
    for step in range(args.steps):
        b = example_batch(model.config, args.batch_size, args.seq_len, seed=args.seed + step)
        optimizer.zero_grad()
        loss = glm_loss(model(b["input_ids"], position_ids=b["position_ids"], attention_mask=b["attention_mask"])
                        .logits, b["targets"], b["loss_mask"])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        optimizer.step()
    return loss.item(), grads, {n: p.detach().clone() for n, p in model.named_parameters()}
