"""The activations directory: Kaldi arks + scps, all or nothing, never overwritten silently."""

import kaldiio
import numpy as np
import pytest

from deepbrain.errors import OutputError, OutputExistsError
from deepbrain.pipeline import Activations
from deepbrain.results import ResultsWriter


def act(utt, frames=4):
    return Activations(utt, {1: np.full((frames, 3), 0.5, np.float32),
                             2: np.zeros((frames, 2), np.float32)}, None, 0.01, "numpy")


def test_arks_and_scps_point_at_the_final_place(tmp_path):
    out = tmp_path / "out dir"
    with ResultsWriter(out) as w:
        w.write(act("u1"))
        w.write(act("u2", 6))
        w.finish({"x": 1})
    assert sorted(p.name for p in out.iterdir()) == ["layer1.ark", "layer1.scp", "layer2.ark",
                                                     "layer2.scp", "summary.json",
                                                     "utt2num_frames"]
    scp = dict(kaldiio.load_scp(str(out / "layer1.scp")))
    assert scp["u2"].shape == (6, 3) and np.all(scp["u2"] == 0.5)
    assert dict(kaldiio.load_ark(str(out / "layer2.ark")))["u1"].shape == (4, 2)
    assert (out / "utt2num_frames").read_text() == "u1 4\nu2 6\n"
    assert not list(tmp_path.glob(".*")) and not list(out.glob(".*"))


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with ResultsWriter(out) as w:
            w.write(act("u1"))
            raise RuntimeError("engine died")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_existing_results_are_refused_then_replaced_with_force(tmp_path):
    out = tmp_path / "out"
    with ResultsWriter(out) as w:
        w.write(act("old"))
        w.finish({})
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already holds results .layer1.ark.*--force"):
        ResultsWriter(out)
    one_layer = Activations("new", {1: np.ones((2, 3), np.float32)}, None, 0.01, "numpy")
    with ResultsWriter(out, force=True) as w:
        w.write(one_layer)
        w.finish({})
    assert not (out / "layer2.ark").exists()          # stale results do not linger
    assert list(dict(kaldiio.load_scp(str(out / "layer1.scp")))) == ["new"]
    assert (out / "notes.txt").read_text() == "mine"  # the user's own files are kept


def test_an_unrelated_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="not a directory"):
        ResultsWriter(tmp_path / "f")
