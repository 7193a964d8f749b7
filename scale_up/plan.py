"""Memory and compute plans for a GLM on GPUs, every number derived from the config: will it fit, how fast is it.

How it works
------------
**Inference** (tensor parallel over ``num_gpus`` cards, FP16 activations, weights in FP16 or weight-only INT8/INT4;
docs/glm130b_facts.md §3.1, §4). Per GPU, with t = num_gpus, h hidden, f the GeGLU inner size, a heads, V vocab,
L layers, b batch, s sequence:

- weights: the four linears of each layer split Megatron-style (``query_key_value`` and ``dense_h_to_4h`` by rows,
  ``attention.dense`` and ``dense_4h_to_h`` by columns), at ``bits/8`` bytes per weight plus one FP16 scale per local
  output row when quantized; their biases (row-parallel ones replicated), the LayerNorms (replicated) and the
  vocab-parallel embedding (V/t rows, tied head) in FP16;
- KV cache: ``2 · L · b · s · (h/t) · 2`` bytes (keys and values of every layer, FP16);
- activations, the peak of one prefill of the whole prompt on the official path: the residual stream
  (``2 · b·s·h · 2``) plus the largest of: attention (``b·s·3h/t · 2`` QKV, ``b·(a/t)·s² · 8`` scores in FP16, their
  FP32 softmax copy and FP16 probabilities, ``b·s·h/t · 2`` context), the MLP (``b·s·3f/t · 2``: the ``[x1; x2]`` output
  and the GeGLU product), and the output layer, which computes logits for every prompt position and gathers the
  vocabulary (``b·s·V/t · 2 + b·s·V · 2``);
- workspace: the CUDA context (``GPU.context_bytes``), plus, when quantized, one FP16 copy of the largest local
  linear weight, because the official W8A16/W4A16 path dequantizes a whole weight before each matmul (§4.3).

**Training** (DP × TP × PP as GLM-130B trained: FP16 weights and gradients, FP32 master weights and Adam moments
sharded over DP by ZeRO-1, one activation checkpoint per layer; §2.5, §3). The pipeline splits L layers plus two
embedding units into ``pp`` stages of balanced unit count (the paper's ``type:transformer|embedding`` rule, the very
split the pipeline runs: ``pipeline.partition.partition_layers``), and the plan reports the fullest stage. Per GPU:
``2·P + 2·P + 12·P/dp`` bytes for P parameters of its stage shard; activations are the checkpointed layer inputs
(``2·b·s·h`` per layer per micro-batch in flight, at most ``pp`` in flight under 1F1B) plus one layer's full set while
it is recomputed, ``s·b·h·(10 + 24/t) + 5·a·s²·b/t`` bytes (Korthikanti et al. 2022, eq. 2; the GeGLU MLP with f = 8h/3
stores as much as a 4h GeLU MLP). FLOPs per iteration with B sequences count two FLOPs per multiply-add: per token and
layer the four linears (``4h² + 3hf`` weights) and the two attention products over s keys (``2·s·h``), and per token the
tied output layer (``h·V``); a backward costs two forwards, and recompute adds one more forward of the layers:

    model FLOPs    = 6·B·s·(L·(4h² + 3hf + 2sh) + hV)  = 72·B·s·L·h²·(1 + s/(6h) + V/(12hL))   when f = 8h/3
    hardware FLOPs = 8·B·s·L·(4h² + 3hf + 2sh) + 6·B·s·hV = 96·B·s·L·h²·(1 + s/(6h) + V/(16hL))  (Narayanan et
                                                                                     al. 2021, eq. 3)

``mfu(T) = model FLOPs / (T · n_gpus · peak)``, ``hfu(T)`` likewise with hardware FLOPs, and the 1F1B bubble is
``(pp − 1)/(m + pp − 1)`` for m micro-batches (paper App. B.4, eq. 5). For GLM-130B's DP24×TP4×PP8 with m = 176 and
88.5 s/iteration this gives the paper's 3.8% bubble, 32.5% MFU and 43.3% HFU (§2.3) to within a few tenths.
"""

from __future__ import annotations

from dataclasses import dataclass

from glm_mini.config import GLMConfig
from scale_up.gpus import GPU, get_gpu
from scale_up.pipeline.partition import layers_per_stage
from scale_up.pipeline.recording import bubble_formula
from scale_up.quantization.measure import FORMAT_OF_BITS, stored_bytes
from scale_up.tp_layout import check_tp_degree

BITS = (16, 8, 4)
FP16 = 2  # bytes


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def local_linear_shapes(config: GLMConfig, tp: int) -> dict[str, tuple[int, int]]:
    """``[out, in]`` of each of a layer's four linear weights on one tensor-parallel rank."""
    h, f = config.hidden_size, config.ffn_hidden_size
    return {"query_key_value": (3 * h // tp, h), "attention.dense": (h, h // tp),
            "dense_h_to_4h": (2 * f // tp, h), "dense_4h_to_h": (h, f // tp)}


def weight_bytes_per_gpu(config: GLMConfig, tp: int = 1, bits: int = 16, layers: int | None = None,
                         embedding: bool = True) -> int:
    """Bytes of one tensor-parallel rank's weights: ``layers`` blocks (all by default), the embedding if asked."""
    if bits not in BITS:
        raise ValueError(f"bits: expected one of {BITS}, got {bits!r}")
    check_tp_degree(config, tp)
    h, f, v = config.hidden_size, config.ffn_hidden_size, config.vocab_size
    layers = config.num_layers if layers is None else layers
    linear = sum(stored_bytes(rows, cols, FORMAT_OF_BITS[bits])
                 for rows, cols in local_linear_shapes(config, tp).values())
    biases = FP16 * (3 * h // tp + h + 2 * f // tp + h)
    norms = FP16 * 2 * h * (4 if config.normalization == "sandwich" else 2)
    per_layer = linear + biases + norms
    return layers * per_layer + (FP16 * (v // tp) * h + FP16 * 2 * h if embedding else 0)  # + final LayerNorm


@dataclass(frozen=True)
class InferencePlan:
    """Bytes per GPU by kind for tensor-parallel inference; ``fits`` when their sum is within the card's memory."""

    gpu: GPU
    num_gpus: int
    bits: int
    batch_size: int
    seq_len: int
    weights: int
    kv_cache: int
    activations: int
    workspace: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations + self.workspace

    @property
    def fits(self) -> bool:
        return self.total <= self.gpu.memory_bytes

    def table(self) -> str:
        gib = 1 << 30
        rows = [("weights", self.weights), ("KV cache", self.kv_cache), ("activations", self.activations),
                ("workspace", self.workspace), ("total", self.total),
                (f"{self.gpu.name} memory", self.gpu.memory_bytes)]
        head = (f"{self.num_gpus}x {self.gpu.name}, {'FP16' if self.bits == 16 else f'INT{self.bits}'} weights, "
                f"batch {self.batch_size} x {self.seq_len} tokens: {'fits' if self.fits else 'does NOT fit'}")
        return "\n".join([head] + [f"  {name:<22}{b / gib:8.2f} GiB per GPU" for name, b in rows])


def inference_plan(config: GLMConfig, gpu: str | GPU, num_gpus: int, bits: int, batch_size: int = 1,
                   seq_len: int = 2048) -> InferencePlan:
    """Per-GPU memory of ``config`` served tensor-parallel on ``num_gpus`` cards with ``bits``-bit weights."""
    gpu = get_gpu(gpu)
    check_tp_degree(config, num_gpus, "num_gpus")
    b, s = _positive_int("batch_size", batch_size), _positive_int("seq_len", seq_len)
    if s > config.max_sequence_length:
        raise ValueError(f"seq_len: at most max_sequence_length={config.max_sequence_length}, got {s}")
    t, h, f, v, a = num_gpus, config.hidden_size, config.ffn_hidden_size, config.vocab_size, config.num_attention_heads
    weights = weight_bytes_per_gpu(config, t, bits)
    kv_cache = kv_cache_bytes(config.num_layers, h, t, b, s)
    attention = b * s * 3 * h // t * FP16 + b * (a // t) * s * s * (2 + 4 + 2) + b * s * h // t * FP16
    mlp = b * s * 3 * f // t * FP16
    logits = b * s * v // t * FP16 + b * s * v * FP16
    activations = 2 * b * s * h * FP16 + max(attention, mlp, logits)
    dequantize = max(r * c for r, c in local_linear_shapes(config, t).values()) * FP16 if bits < 16 else 0
    return InferencePlan(gpu, num_gpus, bits, b, s, weights, kv_cache, activations, gpu.context_bytes + dequantize)


def kv_cache_bytes(num_layers: int, hidden: int, tp: int, batch: int, seq_len: int) -> int:
    """FP16 keys and values of every layer for ``batch`` sequences of ``seq_len`` tokens, one rank's ``h/tp``."""
    return 2 * num_layers * batch * seq_len * (hidden // tp) * FP16


def utilization(flops: float, seconds: float, num_gpus: int, peak_flops: float) -> float:
    """Share of what ``num_gpus`` GPUs at ``peak_flops`` could compute in ``seconds`` that ``flops`` is."""
    return flops / (_seconds(seconds) * num_gpus * peak_flops)


def model_flops(config: GLMConfig, sequences: int, seq_len: int, recompute: bool = False) -> float:
    """FLOPs of one training iteration over ``sequences`` sequences (forward + backward, + a forward if recompute)."""
    b, s, n, h, v, f = (sequences, seq_len, config.num_layers, config.hidden_size, config.vocab_size,
                        config.ffn_hidden_size)
    layers = n * (4 * h * h + 3 * h * f + 2 * s * h)  # multiply-adds per token in the blocks
    return float(b * s * ((8 if recompute else 6) * layers + 6 * h * v))


def pipeline_bubble(pp: int, micro_batches: int) -> float:
    """Idle share of a 1F1B (or GPipe) pipeline of ``pp`` stages over ``micro_batches``: (p − 1)/(m + p − 1)."""
    return bubble_formula(_positive_int("pp", pp), _positive_int("micro_batches", micro_batches))


@dataclass(frozen=True)
class TrainingPlan:
    """Per-GPU memory and per-iteration compute of DP × TP × PP training."""

    config: GLMConfig
    gpu: GPU
    dp: int
    tp: int
    pp: int
    micro_batches: int
    micro_batch_size: int
    seq_len: int
    recompute: bool
    stage_layers: tuple[int, ...]  # transformer layers of each pipeline stage (the pipeline's own partition)
    parameters: int  # bytes of FP16 weights on the fullest GPU
    gradients: int
    optimizer: int
    activations: int

    @property
    def num_gpus(self) -> int:
        return self.dp * self.tp * self.pp

    @property
    def global_batch(self) -> int:
        return self.dp * self.micro_batches * self.micro_batch_size

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.activations + self.gpu.context_bytes

    @property
    def fits(self) -> bool:
        return self.total <= self.gpu.memory_bytes

    @property
    def bubble_fraction(self) -> float:
        return pipeline_bubble(self.pp, self.micro_batches)

    @property
    def flops_per_iteration(self) -> float:
        return model_flops(self.config, self.global_batch, self.seq_len)

    @property
    def hardware_flops_per_iteration(self) -> float:
        return model_flops(self.config, self.global_batch, self.seq_len, recompute=self.recompute)

    def mfu(self, iteration_seconds: float) -> float:
        """Model FLOPs utilization at ``iteration_seconds`` per iteration."""
        return utilization(self.flops_per_iteration, iteration_seconds, self.num_gpus, self.gpu.peak_flops)

    def hfu(self, iteration_seconds: float) -> float:
        """Hardware FLOPs utilization (recomputed forwards counted) at ``iteration_seconds`` per iteration."""
        return utilization(self.hardware_flops_per_iteration, iteration_seconds, self.num_gpus, self.gpu.peak_flops)

    def table(self) -> str:
        gib = 1 << 30
        rows = [("parameters (FP16)", self.parameters), ("gradients (FP16)", self.gradients),
                ("optimizer (ZeRO-1)", self.optimizer), ("activations", self.activations),
                ("CUDA context", self.gpu.context_bytes), ("total", self.total),
                (f"{self.gpu.name} memory", self.gpu.memory_bytes)]
        head = (f"DP{self.dp} x TP{self.tp} x PP{self.pp} on {self.num_gpus} {self.gpu.name}, global batch "
                f"{self.global_batch} x {self.seq_len}: {'fits' if self.fits else 'does NOT fit'}; bubble "
                f"{self.bubble_fraction:.1%}; {self.flops_per_iteration:.3e} model FLOPs per iteration")
        return "\n".join([head] + [f"  {name:<22}{b / gib:8.2f} GiB per GPU" for name, b in rows])


def _seconds(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ValueError(f"iteration_seconds: expected a positive finite number, got {value!r}")
    return float(value)


def training_plan(config: GLMConfig, dp: int, tp: int, pp: int, micro_batches: int, micro_batch_size: int,
                  seq_len: int, gpu: str | GPU, recompute: bool = True) -> TrainingPlan:
    """Memory per GPU (fullest stage) and FLOPs per iteration of ``config`` trained DP × TP × PP."""
    gpu = get_gpu(gpu)
    for name, value in (("dp", dp), ("pp", pp), ("micro_batches", micro_batches),
                        ("micro_batch_size", micro_batch_size), ("seq_len", seq_len)):
        _positive_int(name, value)
    check_tp_degree(config, tp)
    if seq_len > config.max_sequence_length:
        raise ValueError(f"seq_len: at most max_sequence_length={config.max_sequence_length}, got {seq_len}")
    if pp > config.num_layers:
        raise ValueError(f"pp={pp}: more stages than num_layers={config.num_layers} (each stage needs a layer)")
    layers = layers_per_stage(config.num_layers, pp)
    fullest = max(range(pp), key=lambda i: weight_bytes_per_gpu(config, tp, 16, layers[i], i in (0, pp - 1)))
    weights = weight_bytes_per_gpu(config, tp, 16, layers[fullest], fullest in (0, pp - 1))
    n_params = weights // FP16
    b, s, h, a = micro_batch_size, seq_len, config.hidden_size, config.num_attention_heads
    full_layer = s * b * h * (10 + 24 / tp) + 5 * a * s * s * b / tp
    in_flight = min(pp, micro_batches)  # 1F1B: the first stage holds pp micro-batches' activations at most
    if recompute:
        activations = layers[fullest] * 2 * b * s * h * in_flight + full_layer
    else:
        activations = layers[fullest] * full_layer * in_flight
    return TrainingPlan(config, gpu, dp, tp, pp, micro_batches, micro_batch_size, seq_len, recompute, tuple(layers),
                        parameters=weights, gradients=weights, optimizer=-(-12 * n_params // dp),
                        activations=int(activations))


# The official serving table (THUDM/GLM-130B README; docs/glm130b_facts.md §4.4): hardware, weight bits, and whether
# the official repository serves the 130B model that way without offloading.
OFFICIAL_SETUPS = (("a100-40g", 8, 16, True), ("v100-32g", 8, 16, False), ("v100-32g", 8, 8, True),
                   ("rtx3090", 8, 8, True), ("rtx3090", 4, 4, True), ("rtx3090", 4, 8, False),
                   ("rtx2080ti", 8, 4, True), ("rtx2080ti", 8, 8, False))


def hardware_table(config: GLMConfig, batch_size: int = 1, seq_len: int = 2048) -> list[tuple[InferencePlan, bool]]:
    """The planner's verdict on each official setup, beside whether the official repository runs it."""
    return [(inference_plan(config, gpu, n, bits, batch_size, seq_len), official)
            for gpu, n, bits, official in OFFICIAL_SETUPS]


def build_parser():
    """``python -m scale_up.plan``'s command line (sub-commands inference, training, hardware)."""
    import argparse

    from glm_mini.cli.config_file import add_config_flag
    from glm_mini.cli.vocabulary import hidden_alias
    from glm_mini.config import PRESETS
    from scale_up.gpus import GPUS

    parser = argparse.ArgumentParser(prog="python -m scale_up.plan",
                                     description="Memory and compute plans for a GLM preset on GPUs.")
    parser.add_argument("--preset", default="glm-130b", choices=sorted(PRESETS), help="model configuration")
    sub = parser.add_subparsers(dest="command", required=True)
    inf = sub.add_parser("inference", help="per-GPU memory of tensor-parallel inference")
    inf.add_argument("--gpu", choices=sorted(GPUS), help="GPU model (or give --gpu-memory-gib and --gpu-peak-tflops)")
    inf.add_argument("--tp", type=int, required=True, help="tensor-parallel degree = number of GPUs")
    hidden_alias(inf, "--num-gpus", "--tp")
    inf.add_argument("--bits", type=int, default=16, choices=BITS, help="weight bits: 16 (FP16), 8 or 4")
    inf.add_argument("--batch-size", type=int, default=1, help="sequences decoded together")
    inf.add_argument("--seq-len", type=int, default=2048, help="prompt + generated tokens")
    tr = sub.add_parser("training", help="per-GPU memory and utilization of DP x TP x PP training")
    for flag, default, text in (("--dp", 24, "data-parallel degree"), ("--tp", 4, "tensor-parallel degree"),
                                ("--pp", 8, "pipeline stages"), ("--micro-batches", 176, "micro-batches per iteration"),
                                ("--micro-batch-size", 1, "sequences per micro-batch"),
                                ("--seq-len", 2048, "tokens per sequence")):
        tr.add_argument(flag, type=int, default=default, help=f"{text} (default {default}, as GLM-130B trained)")
    tr.add_argument("--gpu", choices=sorted(GPUS), help="GPU model (default a100-40g)")
    tr.add_argument("--iteration-seconds", type=float, default=None,
                    help="measured seconds per iteration, to report MFU and HFU (GLM-130B's log: 88.5)")
    tr.add_argument("--no-recompute", action="store_true", help="keep every activation (no checkpointing)")
    for p in (inf, tr):
        p.add_argument("--gpu-memory-gib", type=float, help="another GPU: its memory in GiB (with --gpu-peak-tflops)")
        p.add_argument("--gpu-peak-tflops", type=float, help="another GPU: dense FP16 peak in TFLOP/s")
    sub.add_parser("hardware", help="the official serving setups, as the planner sees them")
    add_config_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    import math

    from glm_mini.cli.config_file import parse_args
    from glm_mini.config import PRESETS

    parser = build_parser()
    args = parse_args(parser, argv, "scale_up.plan")
    config = PRESETS[args.preset]
    if args.command in ("inference", "training"):
        custom = (args.gpu_memory_gib, args.gpu_peak_tflops)
        if (custom[0] is None) != (custom[1] is None) or (args.gpu is not None and custom[0] is not None):
            parser.error("--gpu / --gpu-memory-gib / --gpu-peak-tflops: give a GPU by name, or by both memory "
                         "and peak FLOP/s")
        if custom[0] is not None:
            for flag, value in (("--gpu-memory-gib", custom[0]), ("--gpu-peak-tflops", custom[1])):
                if not math.isfinite(value) or value <= 0:
                    parser.error(f"{flag}: expected a positive finite number, got {value}")
            try:
                args.gpu = GPU("custom", int(custom[0] * (1 << 30)), custom[1] * 1e12)
            except ValueError as err:
                parser.error(f"--gpu-memory-gib / --gpu-peak-tflops: {err}")
        elif args.gpu is None:
            if args.command == "inference":
                parser.error("--gpu: required (a GPU name, or --gpu-memory-gib with --gpu-peak-tflops)")
            args.gpu = "a100-40g"
    try:
        if args.command == "inference":
            print(inference_plan(config, args.gpu, args.tp, args.bits, args.batch_size, args.seq_len).table())
        elif args.command == "training":
            plan = training_plan(config, args.dp, args.tp, args.pp, args.micro_batches, args.micro_batch_size,
                                 args.seq_len, args.gpu, recompute=not args.no_recompute)
            print(plan.table())
            if args.iteration_seconds is not None:
                print(f"  at {args.iteration_seconds} s/iteration: MFU {plan.mfu(args.iteration_seconds):.1%}, "
                      f"HFU {plan.hfu(args.iteration_seconds):.1%}")
        else:
            for plan, official in hardware_table(config):
                verdict = "fits" if plan.fits else "does not fit"
                agree = "agrees" if plan.fits == official else "DISAGREES"
                print(f"{plan.num_gpus}x {plan.gpu.name:<10} {'FP16' if plan.bits == 16 else f'INT{plan.bits}':<5}"
                      f"{plan.total / (1 << 30):7.2f} of {plan.gpu.memory_bytes / (1 << 30):5.1f} GiB per GPU: "
                      f"{verdict:<13}(official: {'runs' if official else 'does not run'}; {agree})")
    except ValueError as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
