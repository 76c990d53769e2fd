"""The pipeline with the numpy engine against Kaldi's layers; hooks; engine choice."""

import numpy as np
import pytest

from support import SPEECH, UTTS
from deepbrain.errors import Cancelled, DeepbrainError, InputError, KaldiError
from deepbrain.model import load_model
from deepbrain.pipeline import (Request, compute_activations, read_wav_scp, select_engine,
                                utterances_from_wavs)


@pytest.fixture(scope="module")
def golden_run(golden):
    utts = utterances_from_wavs([golden / "wav" / f"{u}.wav" for u in UTTS])
    model = load_model(golden / "model")
    return {a.utt_id: a for a in compute_activations(
        utts, model, Request((1, 2, 3), output=True, keep_intermediate=True), "numpy")}


def test_hidden_layers_equal_kaldi(golden_run, golden_arks):
    for u in UTTS:
        tol = 1e-4 if u in SPEECH else 1e-2
        for k in (1, 2, 3):
            ours, ref = golden_run[u].layers[k], golden_arks[f"layer{k}"][u]
            assert ours.shape == ref.shape and ours.dtype == np.float32
            assert np.abs(ours - ref).max() <= tol, (u, k)
        assert np.abs(golden_run[u].output - golden_arks["posteriors"][u]).max() <= tol


def test_intermediate_stages_equal_kaldi(golden_run, golden_arks):
    for u in UTTS:
        for name, m in golden_run[u].stages.items():
            ref = golden_arks[name][u]
            assert np.abs(m - ref).max() <= 2e-3 * np.abs(ref).max(), (u, name)


def test_text_network_gives_the_same_layers(golden, tmp_path, golden_run):
    import shutil
    d = tmp_path / "m"
    shutil.copytree(golden / "model", d)
    shutil.copy(d / "final.nnet.txt", d / "final.nnet")
    utts = utterances_from_wavs([golden / "wav" / "utt1.wav"])
    act = next(compute_activations(utts, load_model(d), Request((1, 2, 3)), "numpy"))
    for k in (1, 2, 3):
        assert np.abs(act.layers[k] - golden_run["utt1"].layers[k]).max() <= 1e-5


def test_progress_reports_every_stage_in_order(tiny_model, speech_wav):
    seen = []
    list(compute_activations(utterances_from_wavs([speech_wav]), load_model(tiny_model),
                             Request((1, 2)), "numpy", progress=seen.append))
    # extraction, then the frame stages and the network in one pass over each chunk
    assert [p.stage for p in seen] == ["mfcc", "forward"]
    assert all(p.total == 1 and p.utt_id == "speech" for p in seen)


def test_cancel_stops_the_work(tiny_model, speech_wav):
    run = compute_activations(utterances_from_wavs([speech_wav] * 1), load_model(tiny_model),
                              Request((1,)), "numpy", cancel=lambda: True)
    with pytest.raises(Cancelled):
        next(run)


def test_layer_out_of_range(tiny_model, speech_wav):
    with pytest.raises(DeepbrainError, match="layer 3 asked for.*hidden layers 1..2"):
        compute_activations(utterances_from_wavs([speech_wav]), load_model(tiny_model),
                            Request((3,)), "numpy")


def test_per_speaker_cmvn_differs_from_per_utterance(tmp_path, tiny_model, speech_wav):
    other = tmp_path / "other.wav"
    from support import speechlike, wav_bytes
    other.write_bytes(wav_bytes(speechlike(0.7, seed=5) // 3))
    (tmp_path / "wav.scp").write_text(f"a {speech_wav}\nb {other}\n")
    (tmp_path / "utt2spk").write_text("a s1\nb s1\n")
    req = Request((1,), keep_intermediate=True)
    per_utt = list(compute_activations(read_wav_scp(tmp_path / "wav.scp"),
                                       load_model(tiny_model), req, "numpy"))
    per_spk = list(compute_activations(read_wav_scp(tmp_path / "wav.scp", tmp_path / "utt2spk"),
                                       load_model(tiny_model, per_speaker_cmvn=True), req, "numpy"))
    assert np.allclose(per_spk[0].stages.cmvn, per_spk[1].stages.cmvn)
    both = np.vstack([a.stages.feats for a in per_utt])
    assert np.allclose(per_spk[0].stages.cmvn_feats, per_utt[0].stages.feats - both.mean(axis=0),
                       atol=1e-3)


def test_wav_scp_errors(tmp_path):
    (tmp_path / "wav.scp").write_text("a sox x.wav -t wav - |\n")
    with pytest.raises(InputError, match="entry a is a command"):
        read_wav_scp(tmp_path / "wav.scp")
    (tmp_path / "wav.scp").write_text("a x.wav\na y.wav\n")
    with pytest.raises(InputError, match="utterance a appears twice"):
        read_wav_scp(tmp_path / "wav.scp")
    (tmp_path / "wav.scp").write_text("a x.wav\n")
    (tmp_path / "utt2spk").write_text("b s\n")
    with pytest.raises(InputError, match="no speaker for utterance a"):
        read_wav_scp(tmp_path / "wav.scp", tmp_path / "utt2spk")


def test_duplicate_stems_are_refused(tmp_path):
    with pytest.raises(DeepbrainError, match="also that of"):
        utterances_from_wavs([tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"])


def test_auto_picks_numpy_without_kaldi_and_says_why(monkeypatch, tmp_path):
    monkeypatch.delenv("KALDI_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = select_engine("auto")
    assert choice.name == "numpy" and "no Kaldi found" in choice.reason
    with pytest.raises(KaldiError, match="Kaldi not found: set KALDI_ROOT"):
        select_engine("kaldi")


def test_no_layers_asked_for_means_every_layer(tmp_path):
    """Request(()) from a script: every hidden layer, as the CLI's default (it once ended
    the utterance's chunks early)."""
    from deepbrain.model import load_model
    from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs

    from support import ROOT
    model = load_model(ROOT / "models" / "demo")
    wav = ROOT / "models" / "demo" / "examples" / "espeak-m4-003480.wav"
    act = next(compute_activations(utterances_from_wavs([wav]), model, Request(()), "numpy"))
    assert sorted(act.layers) == list(range(1, model.num_hidden + 1))
    assert all(m.shape[0] == act.num_frames for m in act.layers.values())
