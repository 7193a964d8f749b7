# %% [markdown]
# # 00 · A tour of the GLM-130B reproduction kit
#
# Budget: 30 s (FAST, 2-core CPU).
#
# **GLM-130B** (Zeng et al., 2022, *GLM-130B: An Open Bilingual Pre-trained Model*, ICLR 2023) is a 130-billion-parameter
# English/Chinese language model. The paper reports the following facts, and the kit rebuilds each idea at small scale:
#
# * **Objective**: GLM's autoregressive blank infilling. 30% of sequences mask short spans with `[MASK]`; 70% mask a
#   long suffix with `[gMASK]`; 5% of tokens come from multi-task instruction pre-training (paper §2.2).
# * **Architecture**: 70 layers, hidden size 12288, 96 heads, GeGLU FFN, rotary positions, a bidirectional context and
#   causal generation, a tied output head (paper §2.1; official config `configs/model_glm_130b.sh`).
# * **Stability**: DeepNorm Post-LN with α = (2N)^½, embedding gradient shrink (α = 0.1) and an FP32 softmax (paper §2.1, §3).
# * **Training**: about 400B tokens (200B English + 200B Chinese) on 768 A100s, with data, tensor and pipeline parallelism
#   4 (TP) × 8 (PP) × 24 (DP) (paper §2.3).
# * **Serving**: INT4 weights, 4 × RTX 3090 (paper §4).
# * **Results** quoted from the paper: LAMBADA zero-shot 80.2 (GPT-3: 76.2) and MMLU 5-shot 44.8 (GPT-3: 43.9)
#   (paper §5).
#
# Every fact the kit relies on is in `docs/glm130b_facts.md`, in the kit's own words, with its source.
#
# The kit has two packages. `glm_mini/` is the readable single-device model. `scale_up/` takes the *same* code to
# 130B with tensor/pipeline parallelism and INT4, applied from outside by module name.

# %%
import os
import platform
import time
from pathlib import Path

import torch

import glm_mini
from glm_mini import GLM, PRESETS, prefix_causal_mask

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
torch.manual_seed(0)
print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"FAST={FAST}, CUDA available: {torch.cuda.is_available()}")

# %% [markdown]
# ## The course: notebook → goals → paper → package files
# Each notebook builds its idea by hand, checks it against the package, and leaves 2–4 exercises to you ("Your turn":
# a check says PASS or shows the first mismatch). The outline below is computed: a notebook not yet in `notebooks/` is
# marked *planned*, and the FAST time is the one `make tour` measured on this machine (read from
# `build/notebooks/timings.json`; "not yet measured" before the first tour). `make student` and `make instructor`
# write the two editions (exercises blank or solved) under `build/`; `make site` renders the instructor edition as an
# offline website.

# %%
import outline  # notebooks/outline.py: the course data, shared with the README and the site
from IPython.display import Markdown, display

display(Markdown(outline.markdown()))
available = sum(lesson.exists for lesson in outline.COURSE)
measured = sum(row["fast_time"].endswith(")") for row in outline.rows())
print(f"{available} of {len(outline.COURSE)} notebooks available, {len(outline.COURSE) - available} planned; "
      f"{measured} with a measured FAST time")

# %% [markdown]
# ## First contact: the same class from 0.2 M to 128.7 B parameters
# `GLMConfig` takes the official argument names. `PRESETS` goes from `nano` (the tests) to `mini` (the notebooks) to
# `glm-130b`, the official configuration. The 130B model is built on the `meta` device, which records shapes and
# allocates no memory.

# %%
print(f"{'preset':<10}{'layers':>7}{'hidden':>8}{'heads':>6}{'ffn':>7}{'vocab':>8}{'parameters':>18}")
for name, cfg in PRESETS.items():
    print(f"{name:<10}{cfg.num_layers:>7}{cfg.hidden_size:>8}{cfg.num_attention_heads:>6}{cfg.ffn_hidden_size:>7}"
          f"{cfg.vocab_size:>8}{cfg.num_parameters():>18,}")

start = time.perf_counter()
with torch.device("meta"):
    big = GLM(PRESETS["glm-130b"])
meta_s = time.perf_counter() - start
n_big = sum(p.numel() for p in big.parameters())
assert n_big == PRESETS["glm-130b"].num_parameters()

model = GLM(PRESETS["nano"]).eval()
ids = torch.randint(0, PRESETS["nano"].vocab_size, (2, 16))
logits = model(ids, attention_mask=prefix_causal_mask(torch.tensor([6, 10]), 16)).logits
print(f"\nnano forward: ids {tuple(ids.shape)} -> logits {tuple(logits.shape)}; "
      f"130B on meta: {n_big:,} parameters in {meta_s:.2f} s")

# %% tags=["summary"]
print(f"{available}/{len(outline.COURSE)} notebooks available; torch {torch.__version__}; FAST={FAST}")
print("presets: " + ", ".join(f"{k} {v.num_parameters() / 1e6:,.1f} M" for k, v in PRESETS.items()))
