"""One flag vocabulary across every tool: each tool's ``--help`` is read as a user reads it, and the flags it shows
must spell the shared ideas the one way (``glm_mini.cli.vocabulary``); the official GLM-130B names appear only as
aliases of the kit's flag, in the tools whose official counterpart has them; old spellings still parse, unseen."""

import contextlib
import importlib
import io
import re
from pathlib import Path

import pytest

from glm_mini.cli.vocabulary import OFFICIAL_ALIASES, OLD_SPELLINGS, VOCABULARY

REPO = Path(__file__).resolve().parents[1]
# tool (module, sub-command words) -> the vocabulary flags it must show
TOOLS = {
    ("glm_mini.train", ()): {"--max-steps", "--precision", "--device", "--seed", "--out", "--config", "--progress"},
    ("scale_up.train", ()): {"--tp", "--pp", "--dp", "--micro-batches", "--max-steps", "--precision", "--device",
                             "--seed", "--out", "--config", "--progress"},
    ("scale_up.generate", ()): {"--tp", "--bits", "--precision", "--device", "--seed", "--out", "--config",
                                "--checkpoint", "--progress"},
    ("scale_up.convert", ()): {"--tp", "--bits", "--out", "--config", "--checkpoint", "--progress"},
    ("scale_up.plan", ()): {"--config"},
    ("scale_up.plan", ("inference",)): {"--tp", "--bits"},
    ("scale_up.plan", ("training",)): {"--tp", "--pp", "--dp", "--micro-batches"},
    ("scale_up.dry_run", ()): {"--tp", "--pp", "--bits", "--config"},
    ("scale_up.gpu_check", ()): {"--device"},
    ("glm_mini.experiments", ()): {"--out", "--progress"},  # a sweep's seeds and steps are its definition
    ("glm_mini.reference", ()): {"--out", "--progress"},
    ("glm_mini.mask_share_sweep", ()): {"--out", "--progress"},
    ("scale_up.quantization.size_family", ()): {"--out", "--progress"},
    ("scale_up.tensor_parallel.check", ()): {"--out", "--seed", "--device"},
    ("scale_up.pipeline.__main__", ()): {"--tp", "--pp", "--dp", "--micro-batches", "--max-steps", "--device",
                                         "--seed", "--out"},
    ("glm_mini.data.corpus_tokenizer", ()): {"--text-column"},
    ("glm_mini.data.packed_corpus", ()): {"--text-column"},
}
# other spellings of the vocabulary's ideas, seen in this kit's past or in neighbouring tools
SYNONYMS = {"--num-gpus", "--gpus", "--tensor-parallel", "--tensor-parallel-size", "--tensor-model-parallel-size",
            "--model-parallel-size", "--mp", "--pipeline-parallel-size", "--pipeline-model-parallel-size",
            "--data-parallel-size", "--quant-bits", "--wbits", "--quantize", "--num-microbatches", "--num-steps",
            "--train-steps", "--train-iters", "--iters", "--fp16", "--bf16", "--half", "--cuda", "--cpu",
            "--random-seed", "--output", "--output-dir", "--out-dir", "--save-dir", "--cfg", "--config-file",
            "--ckpt", "--load", "--no-tqdm", "--quiet"} | set(OLD_SPELLINGS)


def help_text(module: str, words: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        importlib.import_module(module).main([*words, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def option_groups(text: str) -> list[list[str]]:
    """The option strings of each entry of an argparse help text: ``["--tp", "--target-tp"]`` for
    ``  --tp TP, --target-tp TP   help...``."""
    groups = []
    for line in text.splitlines():
        if not re.match(r"^  -", line):
            continue
        invocation = re.split(r"\s{2,}", line.strip())[0]
        groups.append(re.findall(r"(?:^|, )(--?[A-Za-z][\w-]*)", invocation))
    return groups


@pytest.mark.parametrize("tool", list(TOOLS), ids=lambda t: " ".join((t[0], *t[1])))
def test_every_tool_speaks_the_vocabulary(tool):
    module, words = tool
    groups = option_groups(help_text(module, words))
    shown = {o for g in groups for o in g}
    assert TOOLS[tool] <= shown, f"{module}: missing {sorted(TOOLS[tool] - shown)}"
    assert TOOLS[tool] <= set(VOCABULARY.values()) | {"--text-column"}
    other = sorted(shown & SYNONYMS)
    assert not other, f"{module} spells a shared idea another way: {other}"
    for group in groups:
        if group[0] == "-h":
            continue
        negation = "--no-" + group[0][2:]  # --progress, --no-progress: one switch
        for option in (o for o in group[1:] if o != negation):  # an alias: only the official names, where they belong
            assert option in OFFICIAL_ALIASES, f"{module}: {group[0]} has the alias {option}"
            flag, tools = OFFICIAL_ALIASES[option]
            assert group[0] == flag and module in tools, f"{module}: {option} is an alias of {group[0]}"
    for option in shown & set(OFFICIAL_ALIASES):
        assert any(option in g[1:] for g in groups), f"{module}: {option} is a flag of its own, not an alias"


def test_every_command_line_tool_is_checked():
    """A new tool (a module with an argparse parser) must join TOOLS, so its flags are checked too."""
    checked = {module for module, _ in TOOLS}
    found = set()
    for package in ("glm_mini", "scale_up"):
        for path in (REPO / package).rglob("*.py"):
            if "ArgumentParser(" in path.read_text(encoding="utf-8") and "def main(" in path.read_text(encoding="utf-8"):
                found.add(".".join(path.relative_to(REPO).with_suffix("").parts))
    found.discard("scale_up.pipeline.options")  # the pipeline demo's parser, checked through its __main__
    found.add("scale_up.pipeline.__main__")
    assert found <= checked, f"tools whose --help is not checked: {sorted(found - checked)}"


@pytest.mark.parametrize("module, argv, dest, expected", [
    ("scale_up.plan", ["inference", "--gpu", "rtx3090", "--num-gpus", "4"], "tp", 4),
    ("scale_up.pipeline.options", ["--out", "x", "--microbatches", "2", "--steps", "3"], "microbatches", 2),
    ("scale_up.pipeline.options", ["--out", "x", "--microbatches", "2", "--steps", "3"], "steps", 3),
    ("scale_up.generate", ["--prompt-ids", "1,2", "--dtype", "float32"], "precision", "fp32"),
    ("scale_up.convert", ["--input-folder", "a", "--output-folder", "b", "--target-tp", "2",
                          "--quantization-bit-width", "4"], "bits", 4),
    ("scale_up.convert", ["--input-folder", "a", "--output-folder", "b", "--target-tp", "2"], "tp", 2),
])
def test_old_and_official_spellings_still_parse(module, argv, dest, expected, monkeypatch):
    """Scripts written with the old flags (or the official tool's) keep running."""
    captured = {}
    if module == "scale_up.pipeline.options":
        from scale_up.pipeline.options import parse_args

        captured = vars(parse_args(argv))
    else:
        mod = importlib.import_module(module)
        if module == "scale_up.plan":
            monkeypatch.setattr(mod, "inference_plan", lambda config, gpu, tp, *a: captured.update(tp=tp) or _Table())
            mod.main(argv)
        else:
            captured = vars(mod.build_parser().parse_args(argv))
    assert captured[dest] == expected


class _Table:
    def table(self) -> str:
        return ""


def test_old_spellings_stay_out_of_help_and_a_reused_name_is_refused(capsys):
    from glm_mini.data.corpus_tokenizer import main

    assert "--microbatches" not in help_text("scale_up.train", ())
    with pytest.raises(SystemExit):
        main(["corpus.txt", "--config", "wikitext-103-raw-v1"])
    assert "--config: renamed --dataset-config" in capsys.readouterr().err
