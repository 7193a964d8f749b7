"""SpecialTokens: the ids of GLM's special tokens, one small frozen record the objective and generation code share.

How it works
------------
GLM-130B's vocabulary ends with its special tokens: ``[MASK]`` marks a short blank, ``[gMASK]`` a blank that runs to
the end of the text, ``[sMASK]`` a sentence blank (unused by GLM-130B's pre-training), ``<eod>`` ends a document,
``[sop]`` starts a span in Part B and ``[eop]`` ends it; ``eos`` and ``pad`` come from the tokenizer
(docs/glm130b_facts.md §1.2, §2.2). ``GLMTokenizer.special`` builds this record from a tokenizer; tests build
it by hand with any ids.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class SpecialTokens:
    mask: int
    gmask: int
    smask: int
    eod: int
    sop: int
    eop: int
    eos: int
    pad: int

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"SpecialTokens.{f.name}: expected a non-negative int id, got {value!r}")
        markers = {name: getattr(self, name) for name in ("mask", "gmask", "smask", "sop", "eop")}
        if len(set(markers.values())) != len(markers):
            raise ValueError(f"SpecialTokens: mask, gmask, smask, sop and eop must be distinct ids, got {markers}")
