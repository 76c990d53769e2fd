"""nnet3 model dirs as Kaldi recipes leave them (the Vosk layout is in test_nnet3_vosk.py)."""

import pytest

from nettools import mdl_bytes, synthetic_net
from deepbrain.errors import FormatError, ModelError
from deepbrain.nnet3.modeldir import (describe, find_nnet3_model, is_nnet3_model_dir,
                                      load_hires_mfcc_options, load_network)

EXTRACTOR_FILES = ("final.mat", "global_cmvn.stats", "final.dubm", "final.ie",
                   "online_cmvn.conf")


def kaldi_online_dir(root, conf_lines):
    """What steps/online/nnet3/prepare_online_decoding.sh writes, in small."""
    (root / "conf").mkdir(parents=True)
    (root / "final.mdl").write_bytes(mdl_bytes(synthetic_net()))
    (root / "frame_subsampling_factor").write_text("3\n")
    (root / "conf" / "mfcc.conf").write_text("--use-energy=false\n--num-ceps=6\n"
                                             "--num-mel-bins=20\n--allow-downsample=true\n")
    ie = root / "ivector_extractor"
    ie.mkdir()
    for f in EXTRACTOR_FILES:
        (ie / f).write_text("")
    (root / "conf" / "splice.conf").write_text("--left-context=3\n--right-context=3\n")
    (root / "conf" / "ivector_extractor.conf").write_text("\n".join(conf_lines) + "\n")
    return root


GOOD = ["--cmvn-config=conf/online_cmvn.conf", "--ivector-period=5",
        "--splice-config=conf/splice.conf", "--lda-matrix=/far/away/ivector_extractor/final.mat",
        "--global-cmvn-stats=exp/nnet3/extractor/global_cmvn.stats",
        "--diag-ubm=ivector_extractor/final.dubm", "--ivector-extractor=ivector_extractor/final.ie",
        "--num-gselect=7", "--min-post=0.03", "--posterior-scale=0.2",
        "--max-remembered-frames=1000", "--max-count=50"]


def test_a_kaldi_online_dir(tmp_path):
    root = kaldi_online_dir(tmp_path / "online", GOOD)
    model = find_nnet3_model(root)
    model.check()
    assert is_nnet3_model_dir(root)
    assert model.frame_subsampling_factor == 3 and model.fsf_origin == "frame_subsampling_factor"
    iv = model.ivector
    assert iv.lda == root / "ivector_extractor" / "final.mat"  # found by its name
    assert iv.cmvn_config == root / "ivector_extractor" / "online_cmvn.conf"
    assert iv.splice_config == root / "conf" / "splice.conf"
    o = iv.options
    assert (o.ivector_period, o.num_gselect, o.min_post, o.posterior_scale, o.max_count) == \
        (5, 7, 0.03, 0.2, 50.0)
    assert iv.origin == "conf/ivector_extractor.conf"
    assert load_network(model).frame_subsampling_factor == 3
    mfcc = load_hires_mfcc_options(model.mfcc_conf)
    assert (mfcc.num_ceps, mfcc.num_mel_bins, mfcc.use_energy) == (6, 20, False)
    assert "frame subsampling factor: 3 (frame_subsampling_factor)" in describe(model)


def test_problems_are_listed_together(tmp_path):
    lines = [x for x in GOOD if not x.startswith("--splice-config")]
    lines = [x.replace("final.dubm", "missing.dubm") for x in lines] + \
        ["--greedy-ivector-extractor=true"]
    root = kaldi_online_dir(tmp_path / "online", lines)
    (root / "conf" / "mfcc.conf").unlink()
    model = find_nnet3_model(root)
    with pytest.raises(ModelError) as e:
        model.check()
    text = str(e.value)
    for part in ("missing.dubm", "--greedy-ivector-extractor is not supported",
                 "does not set --splice-config", "conf/mfcc.conf"):
        assert part in text


def test_bad_option_values_are_format_errors(tmp_path):
    root = kaldi_online_dir(tmp_path / "online", GOOD + ["--num-gselect=lots"])
    assert any("--num-gselect=lots is not a valid int" in m
               for m in find_nnet3_model(root).missing)
    root = kaldi_online_dir(tmp_path / "online2", GOOD + ["--frobnicate=1"])
    assert any("unknown or unsupported option --frobnicate" in m
               for m in find_nnet3_model(root).missing)
    (root / "conf" / "mfcc.conf").write_text("--num-ceps=x\n")
    with pytest.raises(FormatError, match="mfcc.conf: --num-ceps=x"):
        load_hires_mfcc_options(root / "conf" / "mfcc.conf")


def test_not_an_nnet3_dir(tmp_path):
    (tmp_path / "final.mdl").write_bytes(b"\0B<TransitionModel> <Topology> ... a GMM")
    assert not is_nnet3_model_dir(tmp_path)
    model = find_nnet3_model(tmp_path / "nothing", needs_ivector=False)
    assert model.missing and "no nnet3 model" in model.missing[0]
