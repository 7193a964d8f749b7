"""A generated checkpoint in the official layout (``latest``, ``<it>/mp_rank_XX_model_states.pt`` = {"module": ...}),
FP16, with RoPE's ``inv_freq`` buffers as SAT saves them, for the converter and loader tests."""

from pathlib import Path

import torch

from glm_mini import GLM, GLMConfig
from scale_up.tp_layout import merge_state_dicts, shard_state_dict

# 2 layers, hidden 64, 8 heads: TP 1, 2, 4 and 8 all divide heads, vocab and the GeGLU halves (176 = 16·11)
SMALL = GLMConfig(num_layers=2, hidden_size=64, num_attention_heads=8, inner_hidden_size=176, vocab_size=1024,
                  max_sequence_length=256)
ITERATION = "49300"


def official_state(config: GLMConfig = SMALL, seed: int = 0) -> dict:
    """A seeded GLM's FP16 state dict plus the per-layer ``attention.rotary_emb.inv_freq`` the official files hold."""
    torch.manual_seed(seed)
    state = GLM(config).half().state_dict()
    head_dim = config.hidden_size // config.num_attention_heads
    inv_freq = (1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)).half()  # [d/2]
    for i in range(config.num_layers):
        state[f"transformer.layers.{i}.attention.rotary_emb.inv_freq"] = inv_freq.clone()
    return state


def write_official(folder: Path, shards: list[dict], iteration: str = ITERATION) -> Path:
    (folder / iteration).mkdir(parents=True)
    for rank, shard in enumerate(shards):
        torch.save({"module": shard}, folder / iteration / f"mp_rank_{rank:02d}_model_states.pt")
    (folder / "latest").write_text(iteration)
    return folder


def make_checkpoint(folder: Path, tp: int = 8, config: GLMConfig = SMALL, seed: int = 0) -> dict:
    """Write ``config``'s seeded model as a TP=``tp`` official checkpoint; returns the full state dict."""
    full = official_state(config, seed)
    write_official(folder, [shard_state_dict(full, tp, r, config) for r in range(tp)])
    return full


def read_shards(folder: Path) -> list[dict]:
    it = (folder / "latest").read_text().strip()
    files = sorted((folder / it).glob("mp_rank_*_model_states.pt"))
    return [torch.load(f, weights_only=True)["module"] for f in files]


def kit_model(state: dict, config: GLMConfig = SMALL) -> GLM:
    """An FP32 glm_mini.GLM holding ``state``'s (FP16) values, RoPE buffers dropped."""
    model = GLM(config)
    model.load_state_dict({k: v.float() for k, v in state.items() if not k.endswith("inv_freq")})
    return model.eval()


def merged(folder: Path, config: GLMConfig = SMALL) -> dict:
    return merge_state_dicts(read_shards(folder), config)
