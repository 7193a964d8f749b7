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
# ## The map: notebook → package files → tests
# Each notebook builds its idea by hand, then asserts that the result equals the package version.
# The notebooks not yet written are listed as *planned*.

# %%
ROOT = Path(glm_mini.__file__).resolve().parents[1]
SERIES = [
    ("00_tour", "this map", [], []),
    ("01_bilingual_tokenizer", "the generated EN/ZH corpus; sentencepiece with GLM's special tokens",
     ["glm_mini/data/", "glm_mini/tokenizer.py"], ["tests/test_corpus.py", "tests/test_tokenizer.py"]),
    ("02_blank_infilling_objective", "[MASK]/[gMASK], Part A/B, positions, masks", [], []),
    ("03_glm_transformer", "RoPE, prefix attention, GeGLU, DeepNorm layer, tied head, 130B on meta",
     ["glm_mini/model.py", "glm_mini/attention.py", "glm_mini/rope.py", "glm_mini/mlp.py", "glm_mini/layer.py"],
     ["tests/test_parity.py", "tests/test_attention.py", "tests/test_model.py"]),
    ("04_deepnorm", "Pre-LN vs Post-LN vs Sandwich vs DeepNorm", ["glm_mini/layer.py", "glm_mini/init.py"],
     ["tests/test_layer.py", "tests/test_init.py"]),
    ("05_embedding_gradient_shrink", "EGS: forward unchanged, gradient ×α", ["glm_mini/grad_shrink.py"],
     ["tests/test_grad_shrink.py"]),
    ("06_pretraining_glm_mini", "the training loop, MIP mixing, checkpoint/resume", [], []),
    ("07_generation_and_evaluation", "infilling, [gMASK] generation with KV cache, cloze", [], []),
    ("08_int4_quantization", "the official INT8/INT4 format", [], []),
    ("09_tensor_parallelism", "column/row/vocab parallel on CPU processes", [], []),
    ("10_pipeline_parallelism", "stages by deletion, GPipe/1F1B", [], []),
    ("11_glm_130b_full_scale", "130B with TP/PP/INT4 on meta, memory and FLOPs plans", [], []),
]
available = 0
for name, teaches, files, tests in SERIES:
    present = (ROOT / "notebooks" / f"{name}.py").exists()
    available += present
    where = ", ".join(f for f in files + tests if (ROOT / f).exists())
    print(f"{'✓' if present else '·'} {name:<30} {teaches}" + (f"\n{'':<32} {where}" if where else ""))
print(f"\n{available} of {len(SERIES)} notebooks available; '·' = planned")

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
print(f"{available}/{len(SERIES)} notebooks available; torch {torch.__version__}; FAST={FAST}")
print("presets: " + ", ".join(f"{k} {v.num_parameters() / 1e6:,.1f} M" for k, v in PRESETS.items()))
