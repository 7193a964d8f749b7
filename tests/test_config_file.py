"""``--config FILE``: a TOML file of a tool's own flags, read exactly as the typed flags are; the command line wins;
an unknown key or a bad value is named with its file (glm_mini.cli.config_file)."""

import contextlib
import io
from pathlib import Path

import pytest

from glm_mini.cli.config_file import parse_args
from glm_mini.train import TrainConfig, build_parser, train_options
from scale_up.plan import main


def train_config(argv) -> TrainConfig:
    return TrainConfig(**train_options(parse_args(build_parser(), argv, "glm_mini.train")))


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_gives_the_flags_and_the_command_line_overrides_them(tmp_path):
    path = write(tmp_path, 'preset = "nano"\nmax-steps = 40\nout = "runs/a"\nseq_len = 64\nlr = 2e-3\n'
                           'egs-ramp = [3, 9]\nmip = false\nset = {num_layers = 3, hidden_dropout = 0.1}\n')
    cfg = train_config(["--config", str(path)])
    typed = train_config(["--preset", "nano", "--max-steps", "40", "--out", "runs/a", "--seq-len", "64", "--lr",
                          "2e-3", "--egs-ramp", "3", "9", "--no-mip", "--set", "num_layers=3", "--set",
                          "hidden_dropout=0.1"])
    assert cfg == typed
    assert cfg.config_overrides == {"num_layers": 3, "hidden_dropout": 0.1} and cfg.mip is False
    over = train_config(["--config", str(path), "--max-steps", "7", "--mip", "--set", "num_layers=2"])
    assert (over.max_steps, over.mip, over.config_overrides["num_layers"]) == (7, True, 2)
    assert over.seq_len == 64  # what the command line does not say stays the file's


@pytest.mark.parametrize("text, message", [
    ('preset = "nano"\nmax-stepz = 4\nout = "x"\n', "run.toml: unknown key 'max-stepz'"),
    ('max-steps = 0\nout = "x"\n', "run.toml: max-steps = '0': expected an int >= 1"),
    ('max-steps = 4\nout = "x"\nprecision = "fp8"\n', "run.toml: precision = 'fp8': expected one of"),
    ('max-steps = 4\nout = "x"\nresume = "yes"\n', "run.toml: resume = 'yes': expected true or false"),
    ('max-steps = 4\nout = "x"\negs-ramp = 3\n', "run.toml: egs-ramp = 3: expected a list of 2 values"),
    ('max-steps = [4, 5]\nout = "x"\n', "run.toml: max-steps = [4, 5]: expected one value, not a list"),
    ('max-steps = 4\nout = "x"\nlr = {a = 1}\n', "run.toml: lr = {'a': 1}: expected one value, not a table"),
    ("max-steps = = 4\n", "run.toml is not valid TOML"),
    ('[scale_up.plan]\ntp = 8\n', "run.toml has no [glm_mini.train] table (it has [scale_up.plan])"),
    ('tp = 8\n[scale_up.plan]\nbits = 4\n', "run.toml: key 'tp' lies outside every tool's table"),
])
def test_bad_files_are_named_with_the_key(tmp_path, capsys, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SystemExit):
        train_config(["--config", str(path)])
    assert message in capsys.readouterr().err


def test_the_file_must_be_toml_and_given_once(tmp_path, capsys):
    yaml = write(tmp_path, "max_steps: 4\n", "run.yaml")
    for argv, message in ((["--config", str(yaml)], "run.yaml: expected a TOML file ending in .toml"),
                          (["--config", str(tmp_path / "none.toml")], "none.toml is not a file"),
                          (["--config", str(yaml), "--config", str(yaml)], "--config: given 2 times")):
        with pytest.raises(SystemExit):
            train_config(argv)
        assert message in capsys.readouterr().err


def test_a_recipe_with_one_table_per_tool_gives_each_tool_its_own(tmp_path):
    path = write(tmp_path, '[glm_mini.train]\npreset = "nano"\nmax-steps = 3\nout = "r"\n\n[scale_up.plan]\n'
                           'gpu = "rtx3090"\ntp = 4\nbits = 4\n')
    assert train_config(["--config", str(path)]).max_steps == 3
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["inference", "--config", str(path)])
    assert out.getvalue().startswith("4x rtx3090, INT4 weights")


def test_the_parallel_trainer_reads_the_same_file_as_glm_mini_train(tmp_path, monkeypatch):
    from scale_up.train import parse

    monkeypatch.setenv("WORLD_SIZE", "1")
    path = write(tmp_path, 'preset = "nano"\nmax-steps = 6\nout = "r"\nbatch-size = 4\nmicro-batches = 2\n')
    with pytest.raises(SystemExit):  # --micro-batches is the parallel trainer's flag, unknown to glm_mini.train
        train_config(["--config", str(path)])
    cfg, layout = parse(["--config", str(path), "--no-progress"])
    assert (cfg.max_steps, cfg.batch_size, layout["micro_batches"], layout["progress"]) == (6, 4, 2, False)
