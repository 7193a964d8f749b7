"""Progress bars: shown with ``--progress`` (with the ETA), quiet with ``--no-progress`` and, by default, when stderr
is not a terminal (a log file, CI, a notebook running a tool); the converter counts its shards."""

import sys

import pytest
from convert_fixtures import make_checkpoint

from glm_mini.cli.progress import progress_bar
from scale_up.convert import main as convert_main


class Terminal:
    """A stand-in stderr that says it is a terminal (pytest's captured stream is not)."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.mark.parametrize("enabled, terminal, shown", [(None, False, False), (None, True, True), (True, False, True),
                                                      (False, True, False)])
def test_a_bar_shows_where_someone_watches(enabled, terminal, shown, monkeypatch, capsys):
    stream = Terminal() if terminal else sys.stderr
    for _ in progress_bar(range(3), enabled=enabled, desc="work", unit="step", file=stream, mininterval=0):
        pass
    text = stream.text if terminal else capsys.readouterr().err
    assert ("work: 100%" in text and "3/3" in text) == shown, text


def test_the_converter_counts_its_shards_with_an_eta(tmp_path, capsys):
    make_checkpoint(tmp_path / "src", tp=2)
    convert_main(["--checkpoint", str(tmp_path / "src"), "--out", str(tmp_path / "a"), "--tp", "4",
                  "--num-attention-heads", "8", "--progress"])
    err = capsys.readouterr().err
    assert "convert TP2->TP4" in err and "4/4" in err and "shard" in err and "<" in err  # elapsed<remaining
    convert_main(["--checkpoint", str(tmp_path / "src"), "--out", str(tmp_path / "b"), "--tp", "4",
                  "--num-attention-heads", "8"])
    assert "convert TP2" not in capsys.readouterr().err  # stderr is not a terminal here: no bar by default
