"""Kaldi option files, read as Kaldi's ParseOptions reads them."""

import pytest

from deepbrain.errors import FormatError
from deepbrain.options import (CmvnOptions, MfccOptions, SpliceOptions, load_cmvn_options,
                               load_mfcc_options, load_splice_options)


def test_defaults_are_the_seeds_getact_values(tmp_path):
    m = load_mfcc_options(tmp_path / "absent.conf")
    assert (m.sample_frequency, m.use_energy, m.dither, m.num_ceps) == (16000, False, 0, 13)
    assert load_cmvn_options(None) == CmvnOptions(norm_means=True, norm_vars=False)
    assert load_splice_options(None).offsets == (-3, -2, -1, 0, 1, 2, 3)


def test_mfcc_conf_is_read_against_kaldis_defaults(tmp_path):
    p = tmp_path / "mfcc.conf"
    p.write_text("# comment\n--sample-frequency=8000  # telephone\n--num_ceps=20\n"
                 "--num-mel-bins=40\n--snip-edges=F\n--window-type=hamming\n\n")
    m = load_mfcc_options(p)
    assert (m.sample_frequency, m.num_ceps, m.num_mel_bins, m.snip_edges, m.window_type) == \
        (8000, 20, 40, False, "hamming")
    assert m.use_energy is True   # Kaldi's default when the file does not say
    assert m.dither == 0          # ours: repeatable pictures unless the file sets it


def test_bare_boolean_means_true(tmp_path):
    p = tmp_path / "mfcc.conf"
    p.write_text("--use-energy\n--htk-compat=1\n")
    m = load_mfcc_options(p)
    assert m.use_energy and m.htk_compat


@pytest.mark.parametrize("line,message", [
    ("--no-such-option=1", "unknown or unsupported option --no-such-option"),
    ("--use-energy=maybe", "--use-energy expects true or false"),
    ("--num-ceps=x", "--num-ceps=x is not a valid int"),
    ("sample-frequency=8000", "expected --name=value"),
    ("--window-type=kaiser", "window-type 'kaiser'"),
    ("--vtln-warp=0.9", "vtln-warp other than 1.0"),
    ("--num-ceps=30", "num-ceps 30 must be 1..num-mel-bins"),
])
def test_bad_mfcc_conf_names_the_file(tmp_path, line, message):
    p = tmp_path / "mfcc.conf"
    p.write_text(line + "\n")
    with pytest.raises(FormatError, match=f"mfcc.conf: .*{message}"):
        load_mfcc_options(p)


def test_cmvn_and_splice_opts(tmp_path):
    (tmp_path / "cmvn_opts").write_text("--norm-means=true --norm-vars=true\n")
    assert load_cmvn_options(tmp_path / "cmvn_opts", per_speaker=True) == \
        CmvnOptions(True, True, True)
    (tmp_path / "splice_opts").write_text("--left-context=5\n")
    assert load_splice_options(tmp_path / "splice_opts") == SpliceOptions(5, 4)  # Kaldi: 4
    (tmp_path / "cmvn_opts").write_text("--norm-means=false --norm-vars=true")
    with pytest.raises(FormatError, match="needs --norm-means=true"):
        load_cmvn_options(tmp_path / "cmvn_opts")
    (tmp_path / "cmvn_opts").write_text("--per-speaker=true")
    with pytest.raises(FormatError, match="unknown or unsupported option --per-speaker"):
        load_cmvn_options(tmp_path / "cmvn_opts")


def test_to_kaldi_round_trips():
    from deepbrain.options import parse_args
    m = MfccOptions(num_ceps=20, num_mel_bins=30, snip_edges=False, low_freq=62.5)
    assert parse_args(m.to_kaldi(), MfccOptions, "x") == m
