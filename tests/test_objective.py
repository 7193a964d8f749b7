"""The blank-infilling objective: the spec's worked examples, the original GLM's 2-D ids, invariants on random
inputs, the sampling statistics (span lengths, masking rate, 30/70 split, MIP share) and packing leaks."""

import math
import random

import pytest
import torch

from glm_mini import GLM, PRESETS, SpecialTokens, prefix_causal_mask
from glm_mini.objective import (OBJECTIVES, ObjectiveConfig, choose_objective, collate, draw_span_length, glm_attention,
                                gmask_sample, mask_sample, mean_span_length, mip_pairs_from_records, mip_sample,
                                place_spans, right_neighbour_visible_share, sample_batch, sample_mask_spans,
                                sample_prefix_len, sample_span_lengths, span_length_probs)

SP = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)
M, G, SOP, EOP = SP.mask, SP.gmask, SP.sop, SP.eop
X = [11, 12, 13, 14, 15, 16]  # x1 .. x6


# --- the spec's worked examples -------------------------------------------------------------------------------------
def test_spec_worked_example_mask():
    """x1..x6, spans {x3} and {x5 x6}, Part B order (x5 x6), (x3): docs/glm130b_facts.md §2.2."""
    s = mask_sample(X, [(2, 3), (4, 6)], SP, span_order=[1, 0])
    assert s.input_ids.tolist() == [11, 12, M, 14, M] + [SOP, 15, 16, SOP, 13]
    assert s.targets.tolist() == [11, 12, M, 14, M] + [15, 16, EOP, 13, EOP]
    assert s.position_ids.tolist() == [0, 1, 2, 3, 4] + [4, 4, 4, 2, 2]
    assert s.loss_mask.tolist() == [False] * 5 + [True] * 5
    assert s.division == 5
    allowed = s.attention_mask
    assert allowed[:5, :5].all() and not allowed[:5, 5:].any()  # Part A: bidirectional, blind to Part B
    assert allowed[5:, :5].all() and torch.equal(allowed[5:, 5:], torch.ones(5, 5, dtype=torch.bool).tril())


def test_glm_attention_equals_the_model_mask_builder():
    for division, length in ((0, 5), (3, 7), (7, 7)):
        assert torch.equal(glm_attention(division, length), prefix_causal_mask(torch.tensor([division]), length)[0, 0])


def test_worked_example_2d_follows_the_original_glm():
    """The original GLM (blocklm_utils make_block_data): row 0 as 1-D, row 1 = 0 on Part A, 1..len+1 per span."""
    s = mask_sample(X, [(2, 3), (4, 6)], SP, span_order=[1, 0], two_d=True)
    assert s.position_ids.tolist() == [[0, 1, 2, 3, 4, 4, 4, 4, 2, 2], [0, 0, 0, 0, 0, 1, 2, 3, 1, 2]]
    assert torch.equal(s.input_ids, mask_sample(X, [(2, 3), (4, 6)], SP, span_order=[1, 0]).input_ids)


def test_default_span_order_is_as_given():
    s = mask_sample(X, [(2, 3), (4, 6)], SP)
    assert s.input_ids.tolist()[5:] == [SOP, 13, SOP, 15, 16]
    assert s.position_ids.tolist()[5:] == [2, 2, 4, 4, 4]


def test_gmask_example():
    """Docs §2.3: prefix + [gMASK, sop] + suffix[:-1] in, prefix + [gMASK] + suffix out, positions 0..L-1."""
    s = gmask_sample(X, 2, SP)
    assert s.input_ids.tolist() == [11, 12, G, SOP, 13, 14, 15]
    assert s.targets.tolist() == [11, 12, G, 13, 14, 15, 16]
    assert s.loss_mask.tolist() == [False] * 3 + [True] * 4
    assert s.position_ids.tolist() == list(range(7))
    assert s.division == 3
    assert torch.equal(s.attention_mask, torch.ones(7, 7, dtype=torch.bool).tril() | (torch.arange(7) < 3))


def test_gmask_2d_follows_the_original_glm():
    s = gmask_sample(X, 2, SP, two_d=True)
    assert s.position_ids.tolist() == [[0, 1, 2, 2, 2, 2, 2], [0, 0, 0, 1, 2, 3, 4]]


def test_gmask_empty_prefix():
    s = gmask_sample(X, 0, SP)
    assert s.input_ids.tolist() == [G, SOP, 11, 12, 13, 14, 15] and s.division == 1


def test_mip_sample():
    """Official collator: prompt + [MASK, sop] + answer in, prompt + [MASK] + answer + [eop] out, 1-D 0..L-1."""
    s = mip_sample([21, 22, 23], [31, 32], SP)
    assert s.input_ids.tolist() == [21, 22, 23, M, SOP, 31, 32]
    assert s.targets.tolist() == [21, 22, 23, M, 31, 32, EOP]
    assert s.loss_mask.tolist() == [False] * 4 + [True] * 3
    assert s.position_ids.tolist() == list(range(7)) and s.division == 4


def test_mip_sample_2d_is_a_mask_sample_with_the_answer_as_the_last_span():
    s = mip_sample([21, 22, 23], [31, 32], SP, two_d=True)
    ref = mask_sample([21, 22, 23, 31, 32], [(3, 5)], SP, two_d=True)
    for name in ("input_ids", "targets", "loss_mask", "position_ids", "attention_mask"):
        assert torch.equal(getattr(s, name), getattr(ref, name)), name
    assert s.position_ids.tolist() == [[0, 1, 2, 3, 3, 3, 3], [0, 0, 0, 0, 1, 2, 3]]  # LS collator's 2-D MIP ids


def test_tokens_may_be_a_tensor():
    a = mask_sample(torch.tensor(X), [(2, 3)], SP)
    b = mask_sample(X, [(2, 3)], SP)
    assert torch.equal(a.input_ids, b.input_ids)


# --- invariants on random inputs ------------------------------------------------------------------------------------
def _random_mask_case(rng):
    n = rng.randint(1, 60)
    ids = [rng.randrange(3, 900) for _ in range(n)]
    cuts = sorted(rng.sample(range(n + 1), 2 * rng.randint(1, max(1, (n + 1) // 2))))
    spans = [(a, b) for a, b in zip(cuts[0::2], cuts[1::2]) if a < b] or [(0, n)]
    order = list(range(len(spans)))
    rng.shuffle(order)
    return ids, spans, order


@pytest.mark.parametrize("two_d", [False, True])
def test_mask_sample_invariants(two_d):
    rng = random.Random(1)
    for _ in range(300):
        ids, spans, order = _random_mask_case(rng)
        s = mask_sample(ids, spans, SP, span_order=order, two_d=two_d)
        L, d = len(s), s.division
        inp, tgt, pos = s.input_ids.tolist(), s.targets.tolist(), s.position_ids
        assert L == len(ids) + 2 * len(spans) and d == len(ids) - sum(b - a for a, b in spans) + len(spans)
        # attention: Part A sees exactly Part A; Part B sees Part A and itself causally
        i, j = torch.arange(L).view(-1, 1), torch.arange(L).view(1, -1)
        assert torch.equal(s.attention_mask, (j < d) | (j <= i))
        assert not s.attention_mask[:d, d:].any()
        # loss only on Part B; Part A targets are the inputs
        assert s.loss_mask.tolist() == [k >= d for k in range(L)]
        assert inp[:d] == tgt[:d]
        # Part B input is [sop] + target shifted: target[t] = input[t + 1] inside a span, [eop] ends each span
        for t in range(d, L):
            assert tgt[t] == (inp[t + 1] if t + 1 < L and inp[t + 1] != SOP else EOP)
        # positions: Part A counts up; every Part B token takes its [MASK]'s position
        row0 = pos[0] if two_d else pos
        mask_positions = [k for k in range(d) if inp[k] == M]
        assert row0[:d].tolist() == list(range(d))
        expected_b, expected_block = [], []
        for k in order:
            a, b = spans[k]
            expected_b += [mask_positions[k]] * (b - a + 1)
            expected_block += list(range(1, b - a + 2))
        assert row0[d:].tolist() == expected_b
        if two_d:
            assert pos[1].tolist() == [0] * d + expected_block
        # filling each [MASK] with its span gives back the text
        spans_b = {}
        t = d
        for k in order:
            a, b = spans[k]
            spans_b[k] = tgt[t:t + b - a]
            t += b - a + 1
        it = iter(range(len(spans)))
        rebuilt = []
        for tok in inp[:d]:
            rebuilt += spans_b[next(it)] if tok == M else [tok]
        assert rebuilt == ids


def test_gmask_invariants():
    rng = random.Random(2)
    for _ in range(200):
        n = rng.randint(1, 50)
        ids = [rng.randrange(3, 900) for _ in range(n)]
        p = rng.randrange(n)
        s = gmask_sample(ids, p, SP)
        assert len(s) == n + 1 and s.division == p + 1
        assert s.targets[s.loss_mask].tolist() == ids[p:]  # loss exactly on the suffix
        assert not s.attention_mask[: p + 1, p + 1:].any()
        assert s.position_ids.tolist() == list(range(n + 1))


# --- span sampling --------------------------------------------------------------------------------------------------
def test_span_length_distribution_is_the_truncated_poisson():
    """P(ℓ) = λ^ℓ e^-λ / ℓ! renormalized on 1..39 (spans.py docstring), in closed form and empirically."""
    lam = 3.0
    probs = span_length_probs(lam)
    z = sum(lam ** k * math.exp(-lam) / math.factorial(k) for k in range(1, 40))
    assert len(probs) == 39 and math.isclose(sum(probs), 1.0, rel_tol=1e-12)
    assert math.isclose(probs[0], 3 * math.exp(-3) / z, rel_tol=1e-12)
    assert math.isclose(probs[2], 27 * math.exp(-3) / 6 / z, rel_tol=1e-12)
    rng = random.Random(3)
    draws = [draw_span_length(rng, lam) for _ in range(20000)]
    mean = sum(k * p for k, p in enumerate(probs, start=1))  # λ / (1 - e^-λ) ≈ 3.157
    assert math.isclose(mean, lam / (1 - math.exp(-lam)), rel_tol=1e-9)
    sd = math.sqrt(sum((k - mean) ** 2 * p for k, p in enumerate(probs, start=1)) / len(draws))
    assert abs(sum(draws) / len(draws) - mean) < 4 * sd
    assert min(draws) >= 1 and max(draws) <= 39
    assert abs(draws.count(1) / len(draws) - probs[0]) < 0.015


def test_right_neighbour_visible_share_is_one_over_the_mean_span_length():
    """Only a span's last token keeps its right neighbour (spans.py docstring, point 3): share -> 1 / E[ℓ]."""
    assert right_neighbour_visible_share([(0, 3), (5, 6)]) == 2 / 4
    with pytest.raises(ValueError, match="spans"):
        right_neighbour_visible_share([])
    for lam in (3.0, 1.0):
        assert math.isclose(mean_span_length(lam), lam / (1 - math.exp(-lam)), rel_tol=1e-9)
        cfg = ObjectiveConfig(mask_ratio=0.3, span_lambda=lam)
        rng = random.Random(6)
        spans = [s for _ in range(4000) for s in sample_mask_spans(40, rng, cfg)]
        assert abs(right_neighbour_visible_share(spans) - 1 / mean_span_length(lam)) < 0.01
        # the rule itself, token by token: a masked token's right neighbour is visible iff it ends its span
        rng = random.Random(7)
        for _ in range(50):
            spans = sample_mask_spans(40, rng, cfg)
            masked = {i for a, b in spans for i in range(a, b)}
            visible = [i for i in masked if i + 1 < 40 and i + 1 not in masked]
            assert len(visible) == sum(b < 40 for _, b in spans)
    for bad in (0.0, -1.0, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="span_lambda"):
            ObjectiveConfig(span_lambda=bad)


def test_spans_are_placed_inside_sorted_and_apart():
    rng = random.Random(4)
    for _ in range(500):
        n = rng.randint(1, 120)
        spans = sample_mask_spans(n, rng)
        assert all(0 <= a < b <= n for a, b in spans)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))  # at least one token between spans


def test_place_spans_reaches_the_edges():
    rng = random.Random(5)
    seen = {tuple(place_spans([2, 1], 5, rng)) for _ in range(300)}
    assert seen == {((0, 2), (3, 4)), ((0, 2), (4, 5)), ((1, 3), (4, 5))}


def test_masking_rate_reaches_15_percent():
    rng = random.Random(6)
    rates = []
    for _ in range(2000):
        n = rng.randint(100, 400)
        masked = sum(b - a for a, b in sample_mask_spans(n, rng))
        assert masked >= int(0.15 * n)
        rates.append(masked / n)
    mean = sum(rates) / len(rates)
    assert 0.15 <= mean < 0.17, mean  # the last span overshoots by a couple of tokens


def test_packed_slot_lengths_fit_and_mask_15_percent():
    rng = random.Random(7)
    for _ in range(500):
        slot = rng.randint(8, 200)
        lengths = sample_span_lengths(rng, slot, tokens_per_span=2)
        n = slot - 2 * len(lengths)
        assert sum(lengths) + len(lengths) - 1 <= n
        assert sum(lengths) >= int(0.15 * n) or sum(lengths) + 3 * (len(lengths) + 1) > slot


def test_single_span():
    assert len(sample_span_lengths(random.Random(0), 300, single_span=True)) == 1


def test_prefix_len_range():
    rng = random.Random(8)
    prefixes = [sample_prefix_len(100, rng) for _ in range(3000)]
    assert min(prefixes) == 0 and max(prefixes) == 80  # suffix 20..100 of 100 tokens


# --- the mixture ----------------------------------------------------------------------------------------------------
def _windows(n, length, rng, low=3, high=500):
    return [torch.tensor([rng.randrange(low, high) for _ in range(length)]) for _ in range(n)]


def test_split_30_70_by_sequence():
    rng = random.Random(9)
    n = 20000
    picks = [choose_objective(rng, ObjectiveConfig(), with_mip=False) for _ in range(n)]
    assert set(picks) == set(OBJECTIVES) - {"mip"}
    share = picks.count("gmask") / n
    assert abs(share - 0.7) < 4 * math.sqrt(0.21 / n)
    # and sample_batch applies it: a [gMASK] row holds exactly one [gMASK]
    batch = sample_batch(_windows(400, 32, rng), 32, SP, rng)
    gmask_rows = (batch["input_ids"] == G).sum(1)
    assert set(gmask_rows.tolist()) <= {0, 1}
    assert abs(gmask_rows.float().mean().item() - 0.7) < 4 * math.sqrt(0.21 / 400)


def test_mip_share_of_tokens():
    rng = random.Random(10)
    pairs = [([rng.randrange(600, 700) for _ in range(rng.randint(3, 9))],
              [rng.randrange(700, 800) for _ in range(rng.randint(1, 4))]) for _ in range(50)]
    rows = 3000
    batch = sample_batch(_windows(rows, 32, rng), 32, SP, rng, mip_pairs=pairs)
    is_mip = ((batch["input_ids"] >= 600) & (batch["input_ids"] < 800)).any(1)
    share = is_mip.float().mean().item()  # every row has seq_len positions: row share = token share
    assert abs(share - 0.05) < 4 * math.sqrt(0.05 * 0.95 / rows)
    # among the other rows, 30/70 [MASK]/[gMASK]
    gm = (batch["input_ids"][~is_mip] == G).any(1).float().mean().item()
    assert abs(gm - 0.7) < 4 * math.sqrt(0.21 / int((~is_mip).sum()))
    # an MIP row: loss on answers and [eop] only
    row = int(is_mip.nonzero()[0])
    lossy = batch["targets"][row][batch["loss_mask"][row]]
    assert (((lossy >= 700) & (lossy < 800)) | (lossy == EOP)).all()


def _slot_bounds(seq_len, k):
    size = seq_len // k
    return [(i * size, (i + 1) * size if i < k - 1 else seq_len) for i in range(k)]


@pytest.mark.parametrize("two_d", [False, True])
def test_batch_shapes_and_mask_rows_are_block_diagonal(two_d):
    rng = random.Random(11)
    cfg = ObjectiveConfig(gmask_prob=0.0, two_d=two_d, short_seq_prob=0.3)
    seq_len = 67
    batch = sample_batch(_windows(6, 80, rng), seq_len, SP, rng, cfg)
    assert batch["input_ids"].shape == (6, seq_len) and batch["targets"].shape == (6, seq_len)
    assert batch["loss_mask"].dtype == torch.bool and batch["attention_mask"].shape == (6, 1, seq_len, seq_len)
    assert batch["position_ids"].shape == ((6, 2, seq_len) if two_d else (6, seq_len))
    for r in range(6):
        allowed = batch["attention_mask"][r, 0]
        for a, b in _slot_bounds(seq_len, 4):
            assert not allowed[a:b, :a].any() and not allowed[a:b, b:].any()  # nothing crosses a slot
            pos = batch["position_ids"][r, 0] if two_d else batch["position_ids"][r]
            assert pos[a] == 0  # each packed sample starts at position 0
        pad = batch["input_ids"][r] == SP.pad
        assert not batch["loss_mask"][r][pad].any() and not allowed[pad].any() and not allowed[:, pad].any()


def test_loss_only_on_targets_and_rates_in_mask_rows():
    rng = random.Random(12)
    cfg = ObjectiveConfig(gmask_prob=0.0, single_span_prob=0.0, short_seq_prob=0.0)
    batch = sample_batch(_windows(50, 512, rng), 512, SP, rng, cfg)
    inp, loss = batch["input_ids"], batch["loss_mask"]
    assert not loss[inp == M].any() and (batch["targets"][loss] != M).all()
    n_spans = (inp == M).sum().item()
    n_loss = loss.sum().item()
    text = inp.numel() - 2 * n_spans  # text tokens: every span added a [MASK] and a [sop]
    masked = n_loss - n_spans  # loss positions are the span tokens plus one [eop] per span
    assert 0.15 <= masked / text < 0.18


def test_sample_batch_is_deterministic_in_the_rng():
    windows = _windows(4, 64, random.Random(13))
    a = sample_batch(windows, 64, SP, random.Random(5))
    b = sample_batch(windows, 64, SP, random.Random(5))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_collate_stacks():
    s = [gmask_sample(X, 2, SP), mask_sample([1, 2, 3, 4, 5], [(1, 2)], SP)]
    out = collate(s)
    assert out["input_ids"].shape == (2, 7) and out["attention_mask"].shape == (2, 1, 7, 7)
    assert torch.equal(out["attention_mask"][1, 0], s[1].attention_mask)


def test_long_mip_pair_is_cut_to_the_row():
    rng = random.Random(14)
    pairs = [(list(range(600, 640)), list(range(700, 730)))]
    cfg = ObjectiveConfig(mip_ratio=1.0)
    batch = sample_batch(_windows(2, 32, rng), 32, SP, rng, cfg, mip_pairs=pairs)
    assert batch["input_ids"].shape == (2, 32)
    # prompt cut to max(0.25 L, L - answer - 2) = 8 tokens, answer to the rest (22), as the official collator
    assert batch["input_ids"][0, :8].tolist() == list(range(600, 608)) and batch["input_ids"][0, 8] == M


# --- packing leaks nothing, Part A sees nothing of Part B: through a real model ------------------------------------
@pytest.fixture(scope="module")
def nano():
    torch.manual_seed(0)
    return GLM(PRESETS["nano"]).eval()


def _logits(model, batch):
    return model(batch["input_ids"], batch["position_ids"], batch["attention_mask"]).logits


def test_packed_samples_do_not_see_each_other(nano):
    rng = random.Random(15)
    cfg = ObjectiveConfig(gmask_prob=0.0)
    windows = _windows(2, 64, rng, high=SP.pad + 900)
    batch = sample_batch(windows, 64, SP, random.Random(1), cfg)
    perturbed = dict(batch)
    ids = batch["input_ids"].clone()
    a, b = _slot_bounds(64, 4)[2]
    ids[:, a:b] = torch.randint(3, 900, (2, b - a))
    perturbed["input_ids"] = ids
    base, other = _logits(nano, batch), _logits(nano, perturbed)
    outside = torch.ones(64, dtype=torch.bool)
    outside[a:b] = False
    assert torch.allclose(base[:, outside], other[:, outside], atol=1e-6, rtol=0)
    assert not torch.allclose(base[:, a:b], other[:, a:b])  # the perturbed sample did change


def test_part_a_does_not_see_part_b(nano):
    rng = random.Random(16)
    ids = [rng.randrange(3, 900) for _ in range(40)]
    s = mask_sample(ids, sample_mask_spans(40, rng), SP)
    batch = collate([s])
    changed = batch["input_ids"].clone()
    changed[0, s.division:] = torch.randint(3, 900, (len(s) - s.division,))
    a = _logits(nano, batch)
    b = _logits(nano, {**batch, "input_ids": changed})
    assert torch.allclose(a[0, :s.division], b[0, :s.division], atol=1e-6, rtol=0)


def test_two_d_batches_run_through_a_2d_model():
    """cfg.two_d gives [B, 2, L] positions that a position_encoding_2d GLM takes; packing still leaks nothing."""
    torch.manual_seed(0)
    model = GLM(PRESETS["nano"].replace(position_encoding_2d=True)).eval()
    rng = random.Random(17)
    batch = sample_batch(_windows(2, 64, rng), 64, SP, random.Random(2), ObjectiveConfig(gmask_prob=0.0, two_d=True))
    assert batch["position_ids"].shape == (2, 2, 64)
    ids = batch["input_ids"].clone()
    ids[:, :16] = torch.randint(3, 900, (2, 16))  # the first packed sample
    a, b = _logits(model, batch), _logits(model, {**batch, "input_ids": ids})
    assert torch.allclose(a[:, 16:], b[:, 16:], atol=1e-6, rtol=0) and not torch.allclose(a[:, :16], b[:, :16])


# --- the tokenizer side ---------------------------------------------------------------------------------------------
def test_tokenizer_special_and_mip_pairs():
    from corpus_fixtures import small_corpus, small_tokenizer

    tok = small_tokenizer()
    sp = tok.special
    assert (sp.mask, sp.gmask, sp.smask, sp.eod, sp.sop, sp.eop, sp.eos, sp.pad) == (
        tok.mask_id, tok.gmask_id, tok.smask_id, tok.eod_id, tok.sop_id, tok.eop_id, tok.eos_id, tok.pad_id)
    records = small_corpus()["mip_train"][:20]
    pairs = mip_pairs_from_records(tok, records)
    assert [tok.decode(p) + tok.decode(a) for p, a in pairs] == [r["prompt"] + r["answer"] for r in records]
    (prompt, answer), = mip_pairs_from_records(tok, [{"prompt": "Fill [MASK] in <eod>", "answer": "[sop]"}])
    assert not {sp.mask, sp.eod, sp.sop} & set(prompt + answer), "corpus text never becomes control tokens"
    batch = sample_batch([torch.tensor(p * 50)[:96] for p, _ in pairs[:3]], 96, sp, random.Random(0),
                         ObjectiveConfig(mip_ratio=1.0), mip_pairs=pairs)
    assert batch["input_ids"].shape == (3, 96)
