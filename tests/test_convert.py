"""scale_up.convert on a generated TP=8 official checkpoint: 8→4→8 is bit-exact and equals tp_layout's
merge-then-split, INT8/INT4 bytes equal an independent implementation of the official formula, converted models give
the original logits (INT4 within its quantization bound), the kit's single-file format both ways, bad inputs refused
with nothing written."""

import dataclasses
import json

import pytest
import torch

from convert_fixtures import SMALL, kit_model, make_checkpoint, merged, read_shards, write_official
from glm_mini import GLM, GLMConfig
from scale_up.convert import MARKER, ConversionError, convert, main
from scale_up.peak_rss import peak_rss
from scale_up.tp_layout import merge_state_dicts, reshard_state_dicts, shard_state_dict

LINEARS = ("query_key_value.weight", "attention.dense.weight", "dense_h_to_4h.weight", "dense_4h_to_h.weight")


@pytest.fixture(scope="module")
def tp8(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt") / "tp8"
    full = make_checkpoint(folder, tp=8)
    return folder, full


def assert_same(a: dict, b: dict):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


def test_8_to_4_to_8_is_bit_exact_and_equals_tp_layout(tp8, tmp_path):
    src, _ = tp8
    convert(src, tmp_path / "tp4", 4, num_attention_heads=8)
    shards4 = read_shards(tmp_path / "tp4")
    for got, expected in zip(shards4, reshard_state_dicts(read_shards(src), 4, SMALL), strict=True):
        assert_same(got, expected)
    convert(tmp_path / "tp4", tmp_path / "tp8", 8, num_attention_heads=8)
    for got, expected in zip(read_shards(tmp_path / "tp8"), read_shards(src), strict=True):
        assert_same(got, expected)
    assert (tmp_path / "tp8" / "latest").read_text() == "49300"
    marker = json.loads((tmp_path / "tp8" / MARKER).read_text())
    assert marker["source_tp"] == 4 and marker["target_tp"] == 8


def test_uneven_ratio_8_to_2_and_kit_single_file_both_ways(tp8, tmp_path):
    src, full = tp8
    convert(src, tmp_path / "tp2", 2, num_attention_heads=8)
    assert_same(merged(tmp_path / "tp2"), merge_state_dicts(read_shards(src), SMALL))
    convert(src, tmp_path / "kit.pt", 1, num_attention_heads=8)
    kit = torch.load(tmp_path / "kit.pt", weights_only=True)
    assert not any(k.endswith("inv_freq") for k in kit)
    ids = torch.randint(0, SMALL.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(kit_model(kit)(ids).logits, kit_model(full)(ids).logits)
    convert(tmp_path / "kit.pt", tmp_path / "from_kit", 4, num_attention_heads=8)
    no_rope = {k: v for k, v in full.items() if not k.endswith("inv_freq")}
    for r, got in enumerate(read_shards(tmp_path / "from_kit")):
        assert_same(got, shard_state_dict(no_rope, 4, r, SMALL))


def official_formula(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent re-statement: FP16 scale = absmax/(2^(b-1)-1) per row, q = round(w/scale) in FP16, INT4 packed
    high nibble = even column (the official cuda/quantization.cu layout), as uint8 arithmetic."""
    w = w.half()
    scale = (w.abs().max(dim=1).values / (2 ** (bits - 1) - 1)).half()
    q = torch.round(w / scale.unsqueeze(1)).to(torch.int16)
    if bits == 8:
        return q.to(torch.int8), scale
    nib = (q & 0xF).to(torch.uint8)  # two's-complement nibbles
    return ((nib[:, 0::2] << 4) | nib[:, 1::2]).view(torch.int8), scale


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_bytes_equal_the_formula_and_logits_within_bound(tp8, tmp_path, bits):
    src, full = tp8
    main(["--input-folder", str(src), "--output-folder", str(tmp_path / "q"), "--target-tp", "4",
          "--quantization-bit-width", str(bits), "--num-attention-heads", "8"])
    plain = reshard_state_dicts(read_shards(src), 4, SMALL)
    dequantized = []
    for got, fp in zip(read_shards(tmp_path / "q"), plain, strict=True):
        deq = {}
        for key, t in fp.items():
            if key.endswith(LINEARS):
                q, scale = official_formula(t, bits)
                assert torch.equal(got[key], q) and torch.equal(got[key.replace("weight", "weight_scale")], scale)
                ints = got[key] if bits == 8 else torch.stack((got[key] >> 4, (got[key] << 4) >> 4), -1).flatten(1)
                deq[key] = ints.float() * scale.float().unsqueeze(1)  # [out, in]
                # per row |W − Ŵ| ≤ s·(1/2 + 2⁻¹¹·2^(b−1)): half a step plus FP16's rounding of W/s (|W/s| ≤ 2^(b−1))
                bound = scale.float() * (0.5 + 2.0 ** -11 * 2 ** (bits - 1))
                assert ((deq[key] - t.float()).abs().amax(dim=1) <= bound).all(), key
            else:
                assert torch.equal(got[key], t)
                deq[key] = t
        dequantized.append(deq)
    ids = torch.randint(0, SMALL.vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = kit_model(full)(ids).logits
        quant = kit_model(merge_state_dicts(dequantized, SMALL))(ids).logits
    rel = ((quant - ref).norm() / ref.norm()).item()
    assert rel < (0.01 if bits == 8 else 0.15), rel


def test_bad_inputs_are_named_and_write_nothing(tp8, tmp_path):
    src, full = tp8
    dst = tmp_path / "out"

    def refused(exc, match, source, target_tp=4, heads=8, out=dst):
        with pytest.raises(exc, match=match):
            convert(source, out, target_tp, num_attention_heads=heads)
        assert not out.exists() or out == tmp_path / "busy"
        assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]

    (tmp_path / "nolatest" / "49300").mkdir(parents=True)
    refused(FileNotFoundError, "--input-folder: missing .*latest", tmp_path / "nolatest")
    refused(ConversionError, "--target-tp: 3 does not divide --num-attention-heads=8", src, target_tp=3)
    odd_vocab = dataclasses.replace(SMALL, vocab_size=1004)  # 1004 = 4·251, not divisible by 8
    full_odd = {k: v for k, v in full.items() if "word_embeddings" not in k}
    full_odd["transformer.word_embeddings.weight"] = torch.zeros(1004, 64, dtype=torch.float16)
    write_official(tmp_path / "tp4odd", [shard_state_dict(full_odd, 4, r, odd_vocab) for r in range(4)])
    refused(ConversionError, "--target-tp: transformer.word_embeddings.weight has 1004 rows", tmp_path / "tp4odd",
            target_tp=8)
    shards = read_shards(src)
    shards[3]["transformer.final_layernorm.weight"] = shards[3]["transformer.final_layernorm.weight"].float()
    write_official(tmp_path / "mixed", shards)
    refused(ConversionError, "mp_rank_03.*mixed dtypes", tmp_path / "mixed")
    convert(src, tmp_path / "q", 8, 4, num_attention_heads=8)
    refused(ConversionError, "already quantized", tmp_path / "q")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    refused(FileExistsError, "--output-folder: .* not empty", src, out=busy)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(ConversionError, match="--output-folder: a single .pt file"):
        convert(src, tmp_path / "kit.pt", 2, num_attention_heads=8)
    assert not (tmp_path / "kit.pt").exists()


def test_a_previous_conversion_is_replaced(tp8, tmp_path):
    src, _ = tp8
    convert(src, tmp_path / "out", 2, num_attention_heads=8)
    convert(src, tmp_path / "out", 4, num_attention_heads=8)
    assert len(read_shards(tmp_path / "out")) == 4
    assert sorted(p.name for p in (tmp_path / "out" / "49300").iterdir()) == [f"mp_rank_0{r}_model_states.pt"
                                                                            for r in range(4)]


@pytest.mark.slow
def test_peak_rss_stays_below_twice_the_largest_shard(tmp_path):
    big = GLMConfig(num_layers=6, hidden_size=1024, num_attention_heads=8, inner_hidden_size=2816,
                          vocab_size=8192, max_sequence_length=256)
    gen = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in GLM(big).state_dict().items()}
    full = {k: torch.randn(s, generator=gen, dtype=torch.float32).half() for k, s in shapes.items()}
    write_official(tmp_path / "src", [shard_state_dict(full, 8, r, big) for r in range(8)])
    del full
    rss = peak_rss("scale_up.convert", ["--input-folder", str(tmp_path / "src"), "--output-folder",
                                        str(tmp_path / "dst"), "--target-tp", "4", "--num-attention-heads", "8"])
    largest = max(p.stat().st_size for p in (tmp_path / "dst" / "49300").iterdir())
    total = sum(p.stat().st_size for p in (tmp_path / "src" / "49300").iterdir())
    used = rss["peak"] - rss["baseline"]
    print(f"conversion peak RSS above baseline {used / 2**20:.0f} MiB; largest shard {largest / 2**20:.0f} MiB; "
          f"whole model {total / 2**20:.0f} MiB")
    assert used < 2 * largest < total


def test_peak_rss_names_a_failing_command():
    with pytest.raises(RuntimeError, match="peak_rss: scale_up.convert --target-tp 2 failed"):
        peak_rss("scale_up.convert", ["--target-tp", "2"])


@pytest.mark.parametrize("argv, message", [
    (["--target-tp", "0"], "--target-tp: expected a positive int"),
    (["--target-tp", "2", "--quantization-bit-width", "3"], "--quantization-bit-width: invalid choice"),
    (["--target-tp", "3", "--num-attention-heads", "8"], "--target-tp: 3 does not divide --num-attention-heads=8"),
])
def test_cli_bad_flags_are_named(tp8, tmp_path, argv, message, capsys):
    src, _ = tp8
    with pytest.raises(SystemExit):
        main(["--input-folder", str(src), "--output-folder", str(tmp_path / "out"), *argv])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bits", [16, 4])
def test_safetensors_shards_beside_the_official_ones_are_bitwise_equal_and_load(tp8, tmp_path, bits):
    from safetensors.torch import load_file

    from scale_up.convert import source_shards

    src, _ = tp8
    main(["--checkpoint", str(src), "--out", str(tmp_path / "both"), "--tp", "4", "--bits", str(bits),
          "--num-attention-heads", "8", "--format", "both", "--no-progress"])
    pt = read_shards(tmp_path / "both")
    st = [load_file(tmp_path / "both" / "49300" / f"mp_rank_{r:02d}_model_states.safetensors") for r in range(4)]
    for a, b in zip(pt, st, strict=True):
        assert sorted(a) == sorted(b)
        for k in a:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k  # the same tensors, bit for bit
    assert len(json.loads((tmp_path / "both" / MARKER).read_text())["files"]) == 2 * 4 + 1
    main(["--checkpoint", str(src), "--out", str(tmp_path / "st"), "--tp", "4", "--bits", str(bits),
          "--num-attention-heads", "8", "--format", "safetensors", "--no-progress"])
    files, _ = source_shards(tmp_path / "st")  # a safetensors-only folder reads like an official one
    assert [f.suffix for f in files] == [".safetensors"] * 4
    if bits == 16:  # and converts back, bit for bit (safetensors keeps the keys sorted by name)
        convert(tmp_path / "st", tmp_path / "back8", 8, num_attention_heads=8)
        for got, expected in zip(read_shards(tmp_path / "back8"), read_shards(src), strict=True):
            assert_same(dict(sorted(got.items())), dict(sorted(expected.items())))
