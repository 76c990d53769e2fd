"""The model directory: loads the seed's folder unchanged, lists every problem at once."""

import shutil

import numpy as np
import pytest

from support import random_affine, write_tiny_model
from deepbrain.errors import ModelError
from deepbrain.model import load_model
from deepbrain.nnet1 import Nnet, Sigmoid, Softmax, write_nnet


def seed_architecture_nnet() -> Nnet:
    """The seed's shape: 440 -> 7 x 2048 sigmoid -> 2031 softmax (random weights)."""
    rng = np.random.default_rng(0)
    dims = (440,) + (2048,) * 7
    comps = []
    for a, b in zip(dims[:-1], dims[1:]):
        comps += [random_affine(rng, a, b, 0.02), Sigmoid(b, b)]
    comps += [random_affine(rng, 2048, 2031, 0.02), Softmax(2031, 2031)]
    return Nnet(tuple(comps))


@pytest.fixture(scope="module")
def seed_copy(seed_model, tmp_path_factory):
    """The seed's model folder, copied unchanged, plus a network of its architecture."""
    d = tmp_path_factory.mktemp("seed") / "model"
    shutil.copytree(seed_model, d)
    write_nnet(seed_architecture_nnet(), d / "final.nnet")
    return d


def test_seed_folder_loads_unchanged(seed_copy):
    m = load_model(seed_copy)
    assert m.num_hidden == 7 and m.hidden_dims == (2048,) * 7
    assert sorted(m.maps) == [1, 2, 3, 4, 5, 6, 7]
    assert all(mp.num_units == 2048 for mp in m.maps.values())
    assert m.maps[1].triangles.shape == (4069, 3) and m.maps[1].triangles.min() == 0
    assert m.transform.shape == (40, 91)
    assert m.class_frame_counts.shape == (2031,)
    assert (m.splice.left_context, m.cmvn.norm_vars, m.mfcc.use_energy) == (3, False, False)


def test_seed_folder_as_shipped_lacks_only_its_lost_network(seed_model):
    with pytest.raises(ModelError) as e:
        load_model(seed_model)
    assert "1 problem(s)" in str(e.value) and "final.nnet: missing" in str(e.value)


def test_every_problem_is_listed_at_once(seed_copy, tmp_path):
    d = tmp_path / "broken"
    shutil.copytree(seed_copy, d)
    v = (d / "lda" / "2" / "vertices").read_text().splitlines()
    (d / "lda" / "2" / "vertices").write_text("\n".join(v[:-1]) + "\n")      # 2047 vertices
    (d / "lda" / "5" / "indices").write_text("1 2 3\n1 2 2049\n")           # out of range
    (d / "ali_train_pdf.counts").write_text("[ 1 2 3 ]\n")                   # wrong size
    (d / "lda" / "9").mkdir()
    shutil.copy(d / "lda" / "1" / "vertices", d / "lda" / "9" / "vertices")
    shutil.copy(d / "lda" / "1" / "indices", d / "lda" / "9" / "indices")  # no layer 9
    with pytest.raises(ModelError) as e:
        load_model(d)
    msg = str(e.value)
    assert "4 problem(s)" in msg
    assert "lda/2/vertices: 2047 vertices for layer 2, which has 2048 units" in msg
    assert "lda/5/indices: line 2 names vertex 2049, outside 1..2048" in msg
    assert "ali_train_pdf.counts: has 3 counts for 2031 network outputs" in msg
    assert "lda/9: a map for layer 9, but final.nnet has 7 hidden layers" in msg
    assert "\n" not in msg


def test_front_end_dimensions_are_checked(golden, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(golden / "model", d)
    (d / "splice_opts").write_text("--left-context=4 --right-context=4\n")
    with pytest.raises(ModelError, match=r"final.mat: is 40 x 91, but 13-dim features spliced "
                                         r"4/4 give 117 dims"):
        load_model(d)
    (d / "splice_opts").unlink()
    (d / "final.mat").unlink()
    with pytest.raises(ModelError, match="final.feature_transform: takes 40 inputs but gets the "
                                         "front end's 13 dims .cmvn."):
        load_model(d)


def test_model_without_lda_or_maps(tiny_model):
    m = load_model(tiny_model)
    assert m.transform is None and m.splice is None and not m.maps
    assert m.hidden_dims == (32, 24) and m.frame_shift == 0.01


def test_options_files_in_the_model_dir(tmp_path):
    d = write_tiny_model(tmp_path / "m")
    (d / "conf").mkdir()
    (d / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    (d / "cmvn_opts").write_text("--norm-vars=true\n")
    m = load_model(d)
    assert m.sample_rate == 8000 and m.cmvn.norm_vars


def test_layers_file_and_phones(tmp_path):
    d = write_tiny_model(tmp_path / "m")
    (d / "layers").write_text("6 \n")
    (d / "phones.txt").write_text("sil 0\naa 1\n")
    m = load_model(d)
    assert m.default_layers == (1, 2) and m.phones == ("sil", "aa")
    (d / "layers").write_text("six\n")
    with pytest.raises(ModelError, match="layers: expected one whole number"):
        load_model(d)


def test_not_a_directory(tmp_path):
    with pytest.raises(ModelError, match="not a directory; pass --model"):
        load_model(tmp_path / "nothing")
