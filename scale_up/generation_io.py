"""Prompts in and answers out for ``scale_up.generate``: where prompts come from, which tokenizer reads them, and the
JSONL file the answers go to.

How it works
------------
- **Prompts.** ``--prompt TEXT`` (repeatable), ``--prompt-file FILE`` or ``--interactive``. A prompt file ending in
  ``.jsonl`` holds one JSON value per line: an object with a ``"prompt"`` string (other keys, such as an id, are
  copied into its answer), or a bare JSON string; any other file holds one prompt per line, as GLM-130B's
  ``generate.py`` reads its ``--input-source`` file (empty lines skipped). A line that is not what the file promises
  is named by file and line number before the model is loaded. ``--interactive`` reads one prompt per line from
  standard input on rank 0 until end of input (Ctrl-D) and hands each to every rank.
- **The tokenizer.** ``--tokenizer PATH/ice_text.model`` (icetk's text model, by its file name) is read by the kit's
  icetk adapter (``icetk_tokenizer.IceTokenizer``: GLM-130B's own ids); any other ``.model`` file by the kit's
  ``GLMTokenizer``; without ``--tokenizer`` text prompts use the kit's tokenizer for the preset's vocabulary
  (``default_tokenizer``) trained on the kit corpus ``--corpus`` names (``lessons`` for the reference models). A tokenizer whose ids do not fit the model's vocabulary is refused, naming both sizes.
- **Answers.** One JSON object per prompt, in prompt order: the prompt and its ids, the answers (one per blank) and
  the whole output, as text when there is a tokenizer and always as ids. They are written to ``OUT.partial`` line by
  line (flushed, so a long run shows how far it got), which is renamed to ``OUT`` once every prompt is answered: a
  run that fails part-way never replaces an earlier ``OUT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class PromptFileError(ValueError):
    """A prompt file that cannot be read as promised (the message names the file and line)."""


def read_prompt_file(path: Path) -> list[dict]:
    """The prompts of ``path`` as ``{"prompt": text, ...}`` records (module docstring); ``PromptFileError`` naming
    the file and line of anything else."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(f"--prompt-file: {path} is not a file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise PromptFileError(f"--prompt-file: {path} is not UTF-8 text ({err})") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix.lower() != ".jsonl":
            records.append({"prompt": line})
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise PromptFileError(f"--prompt-file: {path} line {number} is not JSON ({err.msg}); a .jsonl file holds "
                                  "one JSON object with a \"prompt\" string (or one JSON string) per line") from None
        if isinstance(value, str):
            value = {"prompt": value}
        if not isinstance(value, dict) or not isinstance(value.get("prompt"), str) or not value["prompt"].strip():
            raise PromptFileError(f"--prompt-file: {path} line {number}: expected an object with a non-empty "
                                  f"\"prompt\" string (or a JSON string), got {line[:80]!r}")
        records.append(value)
    if not records:
        raise PromptFileError(f"--prompt-file: {path} holds no prompt")
    return records


def load_tokenizer(path: Path | None, vocab_size: int, corpus: str = "default"):
    """The tokenizer for text prompts (module docstring): the file ``path``, else the kit's tokenizer of the kit corpus
    named ``corpus`` (``glm_mini.data.corpus.NAMED_CORPORA``); ``ValueError`` when it does not fit the model."""
    if path is None:
        from glm_mini.data.corpus import NAMED_CORPORA
        from glm_mini.data.corpus_tokenizer import default_tokenizer

        if corpus not in NAMED_CORPORA:
            raise ValueError(f"--corpus: expected one of the kit's corpora {sorted(NAMED_CORPORA)}, got {corpus!r}")
        return default_tokenizer(vocab_size, NAMED_CORPORA[corpus])
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"--tokenizer: no such file {path}")
    if path.name == "ice_text.model":
        from .icetk_tokenizer import IceTokenizer

        tokenizer = IceTokenizer.from_file(path)
    else:
        from glm_mini.tokenizer import GLMTokenizer

        tokenizer = GLMTokenizer.from_file(path)
    if len(tokenizer) > vocab_size:
        raise ValueError(f"--tokenizer: {path} has ids up to {len(tokenizer) - 1}, but the model's vocabulary has "
                         f"{vocab_size} rows (GLM-130B's icetk ids need --preset glm-130b or --vocab-size >= "
                         f"{len(tokenizer)})")
    return tokenizer


class AnswerWriter:
    """JSON lines to ``OUT.partial``, renamed to ``OUT`` by ``finish`` (module docstring); ``None`` writes nothing."""

    def __init__(self, out: Path | None):
        self.out = Path(out) if out is not None else None
        self.file = None
        if self.out is not None:
            if self.out.is_dir():
                raise ValueError(f"--out: {self.out} is a folder; expected a file for the answers (JSONL)")
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.partial = self.out.with_name(self.out.name + ".partial")
            self.file = open(self.partial, "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()

    def finish(self) -> None:
        """Every answer is in: make ``OUT`` the finished file."""
        if self.file is not None:
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.partial, self.out)
            self.file = None

    def close(self) -> None:
        """Stop without finishing: ``OUT.partial`` keeps what was answered, ``OUT`` is untouched."""
        if self.file is not None:
            self.file.close()
            self.file = None
