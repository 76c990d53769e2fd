"""deepbrain's front end against real Kaldi's without Kaldi: golden arrays that real Kaldi made
(tests/data/frontend/golden.npz, see make_golden.py beside it) for the three kinds of nnet1 dir
of tests/kaldi_frontend.py: fbank + per-speaker variance CMVN + deltas, online CMVN (speaker
statistics carried over), MFCC + pitch (noise continued over the utterances)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from kaldi_frontend import KINDS
from support import write_frontend_model
from deepbrain.artefacts import Request, Utterance
from deepbrain.model import load_model
from deepbrain.pipeline import compute_activations

DATA = Path(__file__).parent / "data" / "frontend"
_spec = importlib.util.spec_from_file_location("frontend_golden", DATA / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

DIMS = {"fbank_deltas": 120, "online_cmvn": 26, "mfcc_pitch": 16}  # the front ends' outputs
# As tests/test_frontend_kaldi.py's NUMPY_TOLERANCE: kaldi-native-fbank's features differ
# from Kaldi's in the last bits, relative to the table's largest value.
TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "golden.npz"))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> list[Utterance]:
    d = tmp_path_factory.mktemp("frontend-golden")
    return [Utterance(u, str(p), s) for u, p, s in make_golden.write_wavs(d)]


def run(kind: str, golden, wavs, tmp_path) -> dict:
    model = write_frontend_model(tmp_path / kind, KINDS[kind], DIMS[kind],
                                 global_stats_dim=13 if kind == "online_cmvn" else None)
    if kind == "online_cmvn":
        kaldiio.save_mat(str(model / "global_cmvn_stats.mat"),
                         golden[f"{kind}/global_cmvn_stats"])
    m = load_model(model, per_speaker_cmvn=True)
    request = Request(layers=(1,), keep_intermediate=True)
    return {a.utt_id: a for a in compute_activations(wavs, m, request, engine="numpy")}


@pytest.mark.parametrize("kind", list(make_golden.KEEP))
def test_front_end_equals_kaldis(golden, wavs, kind, tmp_path):
    acts = run(kind, golden, wavs, tmp_path)
    compared = 0
    for table, utts in make_golden.KEEP[kind].items():
        for utt in utts:
            theirs = golden[f"{kind}/{table}/{utt}"]
            ours = acts[utt].stages[table]
            assert ours.shape == theirs.shape, (table, utt)
            scale = float(np.abs(theirs).max())
            assert np.abs(ours - theirs).max() <= TOLERANCE * max(scale, 1.0), (table, utt)
            compared += 1
    assert compared == sum(len(u) for u in make_golden.KEEP[kind].values())


def test_pitch_is_kaldis_bit_for_bit(golden, wavs, tmp_path):
    """pov, normalized log-pitch and delta-pitch, whose noise runs on over the utterances
    (b1 is a1 + a2's audio, its noise is the third stretch of the one run)."""
    acts = run("mfcc_pitch", golden, wavs, tmp_path)
    for utt in ("a1", "a2", "b1"):
        assert np.array_equal(acts[utt].stages["feats"][:, 13:],
                              golden[f"mfcc_pitch/feats/{utt}"][:, 13:]), utt


def test_the_golden_data_is_small():
    assert (DATA / "golden.npz").stat().st_size < 120_000
