"""The shipped models/demo: it loads, its examples run through the numpy engine with the
accuracy the README reports, and (marker ``kaldi``) real Kaldi reads every file and computes
the same numbers from its own features."""

import json
import shlex
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from trainsupport import DEMO, example_labels, example_wavs, kaldi
from deepbrain.kaldi_formats import read_matrix_file
from deepbrain.model import load_model
from deepbrain.nnet1 import nnet_bytes, read_nnet
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs

ALSA = Path("/usr/share/sounds/alsa")
LAYERS = (1, 2, 3, 4, 5)
UNITS = 512


@pytest.fixture(scope="module")
def demo():
    return load_model(DEMO)


@pytest.fixture(scope="module")
def numpy_acts(demo):
    utts = utterances_from_wavs(example_wavs(DEMO))
    req = Request(LAYERS, output=True)
    return {a.utt_id: a for a in compute_activations(utts, demo, req, "numpy")}


def test_demo_model_is_the_seeds_shape_and_small(demo):
    assert demo.hidden_dims == (UNITS,) * len(LAYERS) and demo.nnet.output_dim == 39
    assert demo.transform.shape == (40, 91) and demo.nnet.input_dim == 440
    assert demo.feature_transform.input_dim == 40
    assert demo.phones[0] == "sil" and demo.class_frame_counts.shape == (39,)
    assert demo.class_frame_counts.min() > 0
    assert demo.mfcc.num_ceps == 13 and demo.mfcc.dither == 0 and not demo.mfcc.use_energy
    assert (demo.splice.left_context, demo.splice.right_context) == (3, 3)
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 20e6
    assert 3 <= len(example_wavs(DEMO)) <= 4


def test_examples_run_through_the_numpy_engine_and_are_recognised(numpy_acts):
    labels = example_labels(DEMO)
    assert sorted(numpy_acts) == sorted(labels)
    for utt, acts in numpy_acts.items():
        y = labels[utt]
        assert acts.output.shape == (y.size, 39)
        assert all(acts.layers[k].shape == (y.size, UNITS) for k in LAYERS)
        accuracy = (acts.output.argmax(axis=1) == y).mean()
        # measured 66.0 to 77.9 % against the aligner's labels (models/demo/README.md)
        assert accuracy > 0.6, utt
        assert f"{100 * accuracy:.1f} %" in (DEMO / "README.md").read_text()


def test_readme_reports_provenance_and_results():
    text = (DEMO / "README.md").read_text()
    for needle in ("Test frame accuracy", "espeak-ng 1.", "Kruskal-Wallis", "| epoch |",
                   "deepbrain build-map", "MIT", "GPL-3.0", "make demo-model", "Festival",
                   "Flite", "Real speech (never trained on)", "festvox-us-slt-hts"):
        assert needle in text, needle
    for picture in ("training.png", "confusion-real.png", "confusion-synthetic.png"):
        assert f"]({picture})" in text and (DEMO / picture).read_bytes()[:4] == b"\x89PNG"


def test_readme_real_speech_figures_are_the_measured_ones():
    real = json.loads((DEMO / "real-speech.json").read_text())
    text = (DEMO / "README.md").read_text()
    assert {"alsa", "klettres-en", "klettres-en_GB", "ktuberling", "all"} <= set(real)
    for source, r in real.items():
        row = f"| {r['utterances']} | {r['speech_frames']} | " \
              f"{100 * r['speech_accuracy']:.1f} % | {r['silence_frames']} | " \
              f"{100 * r['silence_accuracy']:.1f} % |"
        assert row in text, source
        if "pocketsphinx" in r:
            ref = r["pocketsphinx"]
            assert f"{row} {100 * ref['speech_accuracy']:.1f} % / " \
                   f"{100 * ref['silence_accuracy']:.1f} % |" in text, source


def test_the_real_dev_set_scores_as_the_readme_says(tmp_path):
    """The alsa-utils clips (the dev set) aligned and scored again: the same figures."""
    from deepbrain import align
    from deepbrain.cli import main

    wavs = sorted(p for p in ALSA.glob("*.wav") if p.stem != "Noise")
    if not wavs:
        pytest.skip("alsa-utils is not installed (apt-get install alsa-utils): no real clip")
    if align.why_unavailable():
        pytest.skip(align.why_unavailable())
    text = tmp_path / "text"
    text.write_text("".join(f"{p.stem} {p.stem.replace('_', ' ').lower()}\n" for p in wavs))
    js = tmp_path / "r.json"
    assert main(["evaluate", *map(str, wavs), "--transcripts", str(text), "--model",
                 str(DEMO), "--resample", "--json", str(js)]) == 0
    got = json.loads(js.read_text())
    want = json.loads((DEMO / "real-speech.json").read_text())["alsa"]
    # scripts/real_speech.py converts to 16 kHz with ffmpeg, this resamples with scipy:
    # the same clips, a slightly different signal (and so alignment)
    assert got["speech_frames"] + got["silence_frames"] == \
        want["speech_frames"] + want["silence_frames"]
    assert abs(got["speech_frames"] - want["speech_frames"]) <= 0.02 * want["speech_frames"]
    assert abs(got["speech_accuracy"] - want["speech_accuracy"]) < 0.03
    assert abs(got["silence_accuracy"] - want["silence_accuracy"]) < 0.03


# -- with real Kaldi -------------------------------------------------------------------------
#
# Two comparisons. (1) The model files and the network: real Kaldi's features (its own
# compute-mfcc-feats ... transform-feats) through real nnet-forward, against deepbrain's
# feature transform and network on those same features: <= 1e-4 on every layer. (2) End to
# end, the numpy engine's own front end against Kaldi's: <= 1e-3, as tests/engines allows for
# speech. On espeak-ng audio the MFCCs differ by up to ~3e-3 in fricative frames, where the
# low mel bins hold ~1e-9 of the frame's energy and float32 FFT round-off (which no two FFT
# implementations share) dominates them; the LDA and the first layer carry that to ~3e-4.

FORWARD_TOL = 1e-4
END_TO_END_TOL = 1e-3


@pytest.fixture(scope="module")
def kaldi_chain(tmp_path_factory):
    """The examples through real Kaldi binaries, as a Kaldi recipe would run them: the
    transformed features and nnet-forward's posteriors."""
    w = tmp_path_factory.mktemp("kaldi")
    (w / "wav.scp").write_text("".join(f"{p.stem} {p}\n" for p in example_wavs(DEMO)))
    kaldi("compute-mfcc-feats", f"--config={DEMO / 'conf' / 'mfcc.conf'}",
          f"scp:{w / 'wav.scp'}", f"ark:{w / 'feats.ark'}")
    kaldi("compute-cmvn-stats", f"ark:{w / 'feats.ark'}", f"ark:{w / 'cmvn.ark'}")
    kaldi("apply-cmvn", *shlex.split((DEMO / "cmvn_opts").read_text()),
          f"ark:{w / 'cmvn.ark'}", f"ark:{w / 'feats.ark'}", f"ark:{w / 'cmvn_feats.ark'}")
    kaldi("splice-feats", *shlex.split((DEMO / "splice_opts").read_text()),
          f"ark:{w / 'cmvn_feats.ark'}", f"ark:{w / 'spliced.ark'}")
    kaldi("transform-feats", str(DEMO / "final.mat"), f"ark:{w / 'spliced.ark'}",
          f"ark:{w / 'transformed.ark'}")
    kaldi("nnet-forward", f"--feature-transform={DEMO / 'final.feature_transform'}",
          str(DEMO / "final.nnet"), f"ark:{w / 'transformed.ark'}", f"ark:{w / 'post.ark'}")
    return (dict(kaldiio.load_ark(str(w / "transformed.ark"))),
            dict(kaldiio.load_ark(str(w / "post.ark"))))


@pytest.fixture(scope="module")
def kaldi_acts(demo):
    """Every hidden layer by the Kaldi engine (nnet-forward on per-layer pieces)."""
    utts = utterances_from_wavs(example_wavs(DEMO))
    req = Request(LAYERS, output=True, keep_intermediate=True)
    return {a.utt_id: a for a in compute_activations(utts, demo, req, "kaldi")}


@pytest.mark.kaldi
def test_nnet_forward_on_kaldi_features_equals_deepbrains_network(demo, kaldi_chain,
                                                                  kaldi_acts):
    transformed, posteriors = kaldi_chain
    assert sorted(posteriors) == sorted(kaldi_acts) == [p.stem for p in example_wavs(DEMO)]
    for utt, post in posteriors.items():
        acts = kaldi_acts[utt]
        assert acts.engine == "kaldi"
        assert np.array_equal(acts.stages.transformed, transformed[utt])  # the same features
        x = demo.feature_transform.propagate(transformed[utt])
        layers, out = demo.nnet.propagate_layers(x, LAYERS)
        worst = max(float(np.abs(acts.layers[k] - layers[k]).max()) for k in LAYERS)
        worst_out = float(np.abs(post - out).max())
        print(f"{utt}: max |Kaldi - numpy| on Kaldi's features: hidden layers {worst:.1e}, "
              f"output {worst_out:.1e}")
        assert worst <= FORWARD_TOL and worst_out <= FORWARD_TOL
        assert np.abs(acts.output - post).max() <= FORWARD_TOL


@pytest.mark.kaldi
def test_kaldi_engine_equals_the_numpy_engine_end_to_end(kaldi_acts, numpy_acts):
    for utt, acts in kaldi_acts.items():
        worst = max(float(np.abs(acts.layers[k] - numpy_acts[utt].layers[k]).max())
                    for k in LAYERS)
        worst_out = float(np.abs(acts.output - numpy_acts[utt].output).max())
        print(f"{utt}: max |Kaldi engine - numpy engine|: hidden layers {worst:.1e}, "
              f"output {worst_out:.1e}")
        assert worst <= END_TO_END_TOL and worst_out <= END_TO_END_TOL
        flips = acts.output.argmax(axis=1) != numpy_acts[utt].output.argmax(axis=1)
        assert flips.mean() < 0.01  # the recognised phone is (nearly) never changed


@pytest.mark.kaldi
def test_kaldi_reads_the_files_as_written(tmp_path):
    text = kaldi("copy-matrix", "--binary=false", str(DEMO / "final.mat"), "-").stdout
    (tmp_path / "final.mat.txt").write_text(text)
    ours = read_matrix_file(DEMO / "final.mat", "LDA")
    assert np.allclose(read_matrix_file(tmp_path / "final.mat.txt", "LDA"), ours, rtol=1e-6,
                       atol=1e-6 * np.abs(ours).max())  # Kaldi's text form has 7 digits
    for name in ("final.nnet", "final.feature_transform"):
        kaldi("nnet-copy", "--binary=true", str(DEMO / name), str(tmp_path / name))
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name
        assert nnet_bytes(read_nnet(DEMO / name)) == (DEMO / name).read_bytes()
    counts = kaldi("copy-vector", "--binary=false", str(DEMO / "ali_train_pdf.counts"),
                   "-").stdout
    ours = (DEMO / "ali_train_pdf.counts").read_text().split()[1:-1]
    assert np.array_equal(np.array(counts.split()[1:-1], dtype=float), np.array(ours, float))
