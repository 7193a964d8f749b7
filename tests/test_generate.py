"""Generation (glm_mini/generate.py, glm_mini/decoding.py) against an independent re-reading of the official rules."""

from glm_mini import SpecialTokens

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.decoding import SamplingConfig, choose_tokens, decode
from glm_mini.generate import (blank_prompt, fill_blanks_batch_ids, fill_blanks_ids, official_inputs,
                               prepare_prompt)

CFG = PRESETS["nano"]
SPECIAL = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)
END = (SPECIAL.eop, SPECIAL.eos)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    m = GLM(CFG).eval()
    with torch.no_grad():  # sharpen the random model a little so greedy choices are not near-ties
        m.transformer.word_embeddings.weight.mul_(4)
        # a random model must not write blank or [sop] ids itself, or the official loop would fill them as blanks
        m.transformer.word_embeddings.weight[[SPECIAL.mask, SPECIAL.gmask, SPECIAL.smask, SPECIAL.sop]] *= 0.01
    return m


def _text(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(10, 900, (n,), generator=g).tolist()


# --- an independent reference: the official generate.py loop, full recompute, no cache --------------------------
def _official_masks(n_context_with_sop, total):
    """generate.py get_masks_and_position_ids, in its own convention (True = blocked), then flipped."""
    m = torch.ones(total, total).tril()
    m[:, : n_context_with_sop - 1] = 1
    blocked = m < 0.5
    return ~blocked


@torch.no_grad()
def _official_greedy(model, raw_ids, budget):
    s = SPECIAL
    seq = list(raw_ids)
    generation_mask = s.mask if s.mask in seq else s.gmask
    if not any(t in (s.mask, s.gmask, s.smask) for t in seq):
        seq.append(s.gmask)
    if seq[-1] not in (s.mask, s.gmask, s.smask):
        seq.append(s.eos)
    blanks = []
    while generation_mask in seq:
        mask_position = seq.index(generation_mask)
        tokens = seq + [s.sop]
        context = len(tokens)
        out = []
        for _ in range(budget):
            total = context + len(out)
            ids = torch.tensor([tokens + out])
            pos = torch.arange(total)
            if generation_mask != s.gmask:
                pos[context - 1:] = mask_position
            mask = _official_masks(context, total).view(1, 1, total, total)
            logits = model(ids, position_ids=pos.view(1, -1), attention_mask=mask).logits
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if nxt in END:
                break
        full = tokens + out
        unfinished = len(full) - (1 if full[-1] in END else 0)
        bog = full.index(s.sop)
        answer = full[bog + 1: unfinished]
        assert not {s.mask, s.gmask, s.smask, s.sop} & set(answer), "the reference is only defined without these"
        blanks.append(answer)
        seq = full[:mask_position] + answer + full[mask_position + 1: bog]
    if seq[-1] == s.eos:
        seq = seq[:-1]
    return blanks, seq


@pytest.mark.parametrize("layout", ["gmask_appended", "two_masks", "gmask_inside", "mask_at_end"])
def test_greedy_equals_the_official_loop(model, layout):
    a, b, c = _text(7, 1), _text(5, 2), _text(4, 3)
    s = SPECIAL
    prompt = {"gmask_appended": a, "two_masks": a + [s.mask] + b + [s.mask] + c,
              "gmask_inside": a + [s.gmask] + b, "mask_at_end": a + [s.mask]}[layout]
    expected = _official_greedy(model, prompt, budget=6)
    assert fill_blanks_ids(model, prompt, SPECIAL, 6) == expected


def test_prompt_rules():
    s = SPECIAL
    assert prepare_prompt([5, 6], s) == ([5, 6, s.gmask], s.gmask)  # gMASK appended, ends in a mask: no eos
    assert prepare_prompt([5, s.mask, 6], s) == ([5, s.mask, 6, s.eos], s.mask)
    assert prepare_prompt([5, s.smask, 6], s) == ([5, s.smask, 6, s.eos], s.smask)
    assert prepare_prompt([5, s.gmask, s.mask], s) == ([5, s.gmask, s.mask], s.mask)  # [MASK] wins


def test_masks_and_positions_match_the_spec():
    """docs/glm130b_facts.md §1.5: context bidirectional; [sop] and generated causal; [MASK] positions fixed."""
    s = SPECIAL
    p = blank_prompt([7, s.mask, 8, s.eos], 1, False, s)
    ids, pos, mask = official_inputs(p, [40, 41])
    assert ids.tolist() == [[7, s.mask, 8, s.eos, s.sop, 40, 41]]
    assert pos.tolist() == [[0, 1, 2, 3, 1, 1, 1]]
    expected = torch.tensor([[1, 1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 1, 0, 0],
                             [1, 1, 1, 1, 1, 1, 0],
                             [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask[0, 0], expected)
    g = blank_prompt([7, 8, s.gmask], 2, True, s)
    _, pos, mask = official_inputs(g, [40, 41])
    assert pos.tolist() == [[0, 1, 2, 3, 4, 5]]
    assert torch.equal(mask[0, 0], _official_masks(4, 6))


def test_kv_cache_equals_recomputing(model):
    s = SPECIAL
    prompts = [_text(9, 4) + [s.mask] + _text(3, 5), _text(5, 6)]
    for p in prompts:
        with_cache = fill_blanks_batch_ids(model, [p], s, 8, use_cache=True)
        without = fill_blanks_batch_ids(model, [p], s, 8, use_cache=False)
        assert with_cache == without


def test_batched_padded_equals_one_by_one(model):
    s = SPECIAL
    prompts = [_text(3, 7), _text(11, 8) + [s.mask] + _text(2, 9) + [s.mask], _text(6, 10) + [s.mask] + _text(5, 11)]
    together = fill_blanks_batch_ids(model, prompts, s, 7)
    alone = [fill_blanks_ids(model, p, s, 7) for p in prompts]
    assert together == alone


def test_generated_mask_ids_are_not_new_blanks():
    """A model that writes [MASK] itself: the kit fills the prompt's one blank and stops (the official loop won't)."""
    torch.manual_seed(2)
    m = GLM(CFG).eval()
    with torch.no_grad():
        m.transformer.final_layernorm.weight.zero_()
        m.transformer.final_layernorm.bias.copy_(m.transformer.word_embeddings.weight[SPECIAL.mask])
    answers, out = fill_blanks_ids(m, [5, SPECIAL.mask, 6], SPECIAL, 4)
    assert answers == [[SPECIAL.mask] * 4] and out == [5] + [SPECIAL.mask] * 4 + [6]


def test_each_blank_gets_its_own_budget(model):
    s = SPECIAL
    prompt = _text(4, 12) + [s.mask] + _text(4, 13) + [s.mask]
    answers, out = fill_blanks_ids(model, prompt, s, 3)
    assert len(answers) == 2 and all(1 <= len(a) <= 3 for a in answers)
    assert s.mask not in out and s.sop not in out


# --- beam search: an independent re-reading of BeamSearchStrategy(deterministic=True), full recompute ------------
@torch.no_grad()
def _official_beam(model, prompt_ids, num_beams, budget, length_penalty):
    s = SPECIAL
    blank = blank_prompt(prompt_ids, prompt_ids.index(s.gmask), True, s)
    context = len(blank.ids)
    tokens = torch.tensor([blank.ids])  # [beams, len]
    scores = None
    end_beams, end_scores = [], []

    def add_end(score, beam):
        score = score / ((5.0 + len(beam)) / 6) ** length_penalty
        i = len(end_beams)
        while i > 0 and not score < end_scores[i - 1]:
            i -= 1
        end_beams.insert(i, beam), end_scores.insert(i, score)
        del end_beams[num_beams:], end_scores[num_beams:]

    done = False
    for _ in range(budget):
        n, total = tokens.shape
        pos = torch.arange(total).expand(n, total)
        mask = _official_masks(context, total).expand(n, 1, total, total)
        logits = model(tokens, position_ids=pos, attention_mask=mask).logits[:, -1].float()  # [beams, V]
        vocab = logits.shape[-1]
        nts = torch.log_softmax(logits, dim=-1)
        if scores is not None:
            nts = nts + scores[:, None]
        nts = nts.view(-1)
        cand = torch.topk(torch.softmax(nts, dim=-1), (len(END) + 1) * num_beams).indices
        cs, order = torch.sort(nts[cand], descending=True)
        cand = cand[order]
        keep, keep_scores = [], []
        for score, idx in zip(cs, cand):
            beam = torch.cat((tokens[idx // vocab], (idx % vocab).view(1)))
            if int(idx % vocab) in END:
                add_end(float(score), beam.tolist())
            elif len(keep) < num_beams:
                keep.append(beam), keep_scores.append(float(score))
            else:
                break
        seq_len = tokens.shape[1]
        tokens, scores = torch.stack(keep), torch.tensor(keep_scores)
        best_open = max(keep_scores) / ((5.0 + seq_len + 1) / 6) ** length_penalty
        if len(end_beams) == num_beams and end_scores[-1] >= best_open:
            done = True
            break
    if not done:
        add_end(float(scores[0]), tokens[0].tolist())
    best = end_beams[0]
    return best[context:]


@pytest.mark.parametrize("num_beams,length_penalty", [(2, 1.0), (3, 0.7)])
def test_beam_search_equals_the_official_strategy(model, num_beams, length_penalty):
    prompt = _text(6, 14) + [SPECIAL.gmask]
    expected = _official_beam(model, prompt, num_beams, 6, length_penalty)
    answer = expected[:-1] if expected and expected[-1] in END else expected
    answers, _ = fill_blanks_ids(model, prompt, SPECIAL, 6, num_beams=num_beams, length_penalty=length_penalty)
    assert answers == [answer]


def test_sampling_is_seeded_and_filters():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=g)
    greedy = logits.argmax(-1)
    assert torch.equal(choose_tokens(logits, SamplingConfig(do_sample=True, top_k=1)), greedy)
    assert torch.equal(choose_tokens(logits, SamplingConfig(do_sample=True, top_p=1e-6)), greedy)
    draw = lambda seed: choose_tokens(logits, SamplingConfig(do_sample=True, temperature=2.0),
                                      torch.Generator().manual_seed(seed))
    assert torch.equal(draw(3), draw(3))
    top3 = torch.topk(logits, 3).indices
    for seed in range(20):
        picked = choose_tokens(logits, SamplingConfig(do_sample=True, top_k=3), torch.Generator().manual_seed(seed))
        assert all(int(picked[i]) in top3[i].tolist() for i in range(4))


def test_sampled_generation_reproduces_with_a_seed(model):
    prompt = _text(5, 15)
    a = fill_blanks_ids(model, prompt, SPECIAL, 5, do_sample=True, top_k=20, seed=7)
    b = fill_blanks_ids(model, prompt, SPECIAL, 5, do_sample=True, top_k=20, seed=7)
    assert a == b


@pytest.mark.parametrize("kwargs,error,match", [
    ({"ids": []}, ValueError, "ids: expected a non-empty prompt"),
    ({"ids": "hello"}, TypeError, "ids: expected a list of token ids"),
    ({"ids": [1, 2.5]}, TypeError, "ids: expected int token ids"),
    ({"ids": [1, 5000]}, ValueError, "token id 5000 is outside the vocabulary"),
    ({"ids": list(range(1, 300))}, ValueError, "max_sequence_length=256"),
    ({"max_new_tokens": 0}, ValueError, "max_new_tokens: expected an int >= 1"),
    ({"max_new_tokens": 260}, ValueError, "max_new_tokens: .* exceed"),
    ({"temperature": 0.0}, ValueError, "temperature"),
    ({"top_k": -1}, ValueError, "top_k"),
    ({"top_p": 1.5}, ValueError, "top_p"),
    ({"num_beams": 0}, ValueError, "num_beams"),
    ({"num_beams": 2, "do_sample": True}, ValueError, "num_beams"),
    ({"seed": "x"}, ValueError, "seed"),
])
def test_bad_input_is_named(model, kwargs, error, match):
    args = {"ids": [5, 6, 7], "max_new_tokens": 3, **kwargs}
    ids, n = args.pop("ids"), args.pop("max_new_tokens")
    with pytest.raises(error, match=match):
        fill_blanks_ids(model, ids, SPECIAL, n, **args)


def test_beam_search_with_ending_beams_equals_the_official_strategy(model):
    """A model leaning towards [eop], so beams end inside the budget and the length penalty decides between ended
    beams and open ones (a negative penalty favours short beams, as the official formula allows)."""
    boosted = GLM(CFG).eval()
    boosted.load_state_dict(model.state_dict())
    with torch.no_grad():
        e = boosted.transformer.word_embeddings.weight[SPECIAL.eop].clone()
        boosted.transformer.final_layernorm.bias.add_(e / e.norm() ** 2 * 5.0)  # eop logit up by 5
    prompt = _text(6, 16) + [SPECIAL.gmask]
    outcomes = set()
    for length_penalty in (-0.3, -0.6, -1.0):
        expected = _official_beam(boosted, prompt, 3, 8, length_penalty)
        outcomes.add(expected[-1] in END)
        answer = expected[:-1] if expected[-1] in END else expected
        got, _ = fill_blanks_ids(boosted, prompt, SPECIAL, 8, num_beams=3, length_penalty=length_penalty)
        assert got == [answer]
    assert outcomes == {True, False}, "the cases must cover both an ended and an open best beam"


class _LogitRecorder(torch.nn.Module):
    """Wraps a model; keeps the last-position logits of every forward (one per generated token)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.steps = model, model.config, []

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        self.steps.append(out.logits[:, -1].clone())
        return out


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("layout", ["gmask", "mask"])
def test_every_step_equals_a_full_forward_with_the_official_layout(model, layout, use_cache):
    """Each generation step's logits equal a full forward (no cache) over prompt + [sop] + tokens so far, laid out
    by the official rule itself (generate.py get_masks_and_position_ids: positions are arange over the whole
    sequence for [gMASK], the [MASK]'s position from [sop] on for [MASK]). Logits, not argmax: a position off by
    one changes every logit but may leave a random model's greedy choice as it was."""
    s = SPECIAL
    body = _text(8, 21)
    prompt = body + [s.gmask] if layout == "gmask" else body[:3] + [s.mask] + body[3:]
    recorder = _LogitRecorder(model)
    ((answers, _),) = fill_blanks_batch_ids(recorder, [prompt], s, 5, use_cache=use_cache)
    generated = answers[0]
    context = prepare_prompt(prompt, s)[0] + [s.sop]  # rule 1 appends eos after a [MASK] prompt
    mask_position = None if layout == "gmask" else prompt.index(s.mask)
    for g, step_logits in enumerate(recorder.steps):
        tokens = context + generated[:g]
        total = len(tokens)
        pos = torch.arange(total)
        if mask_position is not None:
            pos[len(context) - 1:] = mask_position
        mask = _official_masks(len(context), total).view(1, 1, total, total)
        with torch.no_grad():
            full = model(torch.tensor([tokens]), position_ids=pos.view(1, -1), attention_mask=mask).logits[0, -1]
        diff = (step_logits[0] - full).abs().max()
        assert diff < 1e-4, f"{layout} step {g}: logits differ from the official layout by {diff:.3g}"


class _PositionRecorder(_LogitRecorder):
    def forward(self, *args, **kwargs):
        self.steps.append(kwargs["position_ids"].clone())
        return self.model(*args, **kwargs)


@pytest.mark.parametrize("layout", ["gmask", "mask"])
def test_beam_search_feeds_the_official_positions(model, layout):
    """Beam search feeds each new token at the official position: the [gMASK] rule counts on from [sop]
    (the k-th generated token sits at len(context) + k - 1, 1-based k), the [MASK] rule keeps the [MASK]'s."""
    s = SPECIAL
    body = _text(8, 22)
    prompt = body + [s.gmask] if layout == "gmask" else body[:3] + [s.mask] + body[3:]
    recorder = _PositionRecorder(model)
    fill_blanks_ids(recorder, prompt, s, 5, num_beams=2)
    context = len(prepare_prompt(prompt, s)[0]) + 1  # + [sop]
    prefill, *steps = recorder.steps
    assert prefill[0].tolist() == list(range(context - 1)) + [context - 1 if layout == "gmask" else 3]
    for k, pos in enumerate(steps, start=1):  # the k-th generated token is fed at call k
        expected = context - 1 + k if layout == "gmask" else 3
        assert pos.unique().tolist() == [expected], f"{layout} token {k}: position {pos.tolist()}"
