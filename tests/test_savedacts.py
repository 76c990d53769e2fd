"""``--acts DIR``: activations written by deepbrain activations (or getact.sh), read back
for one utterance with no recomputation, and everything that can be wrong with them."""

import shutil

import kaldiio
import numpy as np
import pytest

from deepbrain.cli import main
from deepbrain.errors import FormatError
from deepbrain.layermap import LayerMap, write_layer_map
from deepbrain.model import load_model
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs
from deepbrain.savedacts import read_saved_activations, scp_entries


def add_maps(model_dir):
    """Random Delaunay maps for the tiny model's two layers (32 and 24 units)."""
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(0)
    for k, units in ((1, 32), (2, 24)):
        pts = rng.random((units, 2))
        write_layer_map(LayerMap(k, pts, Delaunay(pts).simplices.astype(np.int64)),
                        model_dir / "lda" / str(k))


@pytest.fixture
def saved(tiny_model, speech_wav, tmp_path):
    add_maps(tiny_model)
    out = tmp_path / "acts"
    assert main(["activations", str(speech_wav), "--model", str(tiny_model), "--out", str(out),
                 "--engine", "numpy", "--output", "-q"]) == 0
    return load_model(tiny_model), out, speech_wav


def fresh(model, wav):
    return next(iter(compute_activations(utterances_from_wavs([wav]), model,
                                         Request((1, 2), output=True), "numpy")))


def test_saved_activations_are_the_computed_ones(saved):
    model, out, wav = saved
    want = fresh(model, wav)
    got = read_saved_activations(out, "speech", model, want.num_frames)
    assert sorted(got.layers) == [1, 2] and got.utt_id == "speech"
    for k in (1, 2):
        assert np.array_equal(got.layers[k], want.layers[k])
    assert np.array_equal(got.output, want.output)
    assert got.engine.startswith("saved")


def test_a_folder_copied_from_elsewhere_finds_its_arks(saved, tmp_path):
    model, out, _ = saved
    moved = tmp_path / "copied from the cluster"
    shutil.copytree(out, moved)
    shutil.rmtree(out)                                   # the scp's absolute paths are gone
    n = kaldiio.load_mat(str(moved / "layer1.ark") + ":" + (moved / "layer1.scp")
                         .read_text().split(":")[-1].strip()).shape[0]
    assert read_saved_activations(moved, "speech", model, n).layers[1].shape[0] == n
    rel = tmp_path / "rel"
    rel.mkdir()
    shutil.copy(moved / "layer1.ark", rel / "layer1.ark")
    offset = (moved / "layer1.scp").read_text().split(":")[-1]
    (rel / "layer1.scp").write_text(f"speech layer1.ark:{offset}")  # relative, as getact.sh
    assert sorted(read_saved_activations(rel, "speech", model, n).layers) == [1]


@pytest.mark.parametrize("case,message", [
    ("not-a-dir", "not a directory"),
    ("empty-dir", "has no layerK.scp"),
    ("other-utt", "has no utterance 'speech'.*it holds 1: other"),
    ("frames", "has 98 frames, the wav gives 99"),
    ("units", "but layer 1 of model has 32 units"),
    ("nan", "NaN or infinite"),
    ("truncated", "cannot be read.*truncated"),
    ("pipe", "is a command or stdin"),
    ("missing-ark", "which does not exist"),
    ("utf8", "which does not exist"),
    ("binary", "holds NUL bytes"),
    ("duplicate", "appears twice"),
])
def test_bad_saved_activations_are_one_clear_error(saved, tmp_path, case, message):
    model, out, _ = saved
    d = tmp_path / "bad"
    d.mkdir()
    frames = 98
    good = np.random.default_rng(0).random((98, 32)).astype(np.float32)
    mats = {"speech": good}
    if case == "not-a-dir":
        d = tmp_path / "nowhere"
    elif case == "other-utt":
        mats = {"other": good}
    elif case == "frames":
        frames = 99
    elif case == "units":
        mats = {"speech": good[:, :30]}
    elif case == "nan":
        good[5, 3] = np.nan
    if case not in ("not-a-dir", "empty-dir"):
        kaldiio.save_ark(str(d / "layer1.ark"), mats, scp=str(d / "layer1.scp"))
    scp = d / "layer1.scp"
    if case == "truncated":
        (d / "layer1.ark").write_bytes((d / "layer1.ark").read_bytes()[:500])
    elif case == "pipe":
        scp.write_text("speech gunzip -c x.ark.gz |\n")
    elif case == "missing-ark":
        (d / "layer1.ark").unlink()
    elif case == "utf8":
        scp.write_bytes(b"speech /tmp/\xff\xfe.ark:9\n")
    elif case == "binary":
        scp.write_bytes((d / "layer1.ark").read_bytes())
    elif case == "duplicate":
        scp.write_text(scp.read_text() * 2)
    with pytest.raises(FormatError, match=message) as e:
        read_saved_activations(d, "speech", model, frames)
    assert "\n" not in str(e.value)


def test_scp_entries_with_offsets_ranges_and_odd_names(tmp_path):
    scp = tmp_path / "x.scp"
    scp.write_text("a /data/with space/l1.ark:17\nb l1.ark:5[0:3]\n\nc l2.ark\n")
    assert scp_entries(scp) == {"a": "/data/with space/l1.ark:17", "b": "l1.ark:5[0:3]",
                                "c": "l2.ark"}


def test_folders_whose_names_are_not_utf8(saved, tmp_path):
    model, out, wav = saved
    odd = tmp_path / b"acts \xff\xfe".decode("utf-8", "surrogateescape")
    shutil.move(str(out), str(odd))                    # its scp files name the old folder
    got = read_saved_activations(odd, "speech", model, 98)
    assert np.array_equal(got.layers[1], fresh(model, wav).layers[1])
