"""The whole recipe on 12 utterances and one epoch (the smoke version of make demo-model):
the model dir it writes describes itself, loads, runs through the numpy engine, and comes
out the same twice."""

import numpy as np
import pytest

from support import speechlike, wav_bytes
from trainsupport import SMOKE, example_labels, example_wavs
from deepbrain.errors import OutputExistsError
from deepbrain.model import load_model
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs
from deepbrain.training import make_model
from deepbrain.training.errors import TrainingError
from deepbrain.training.frames import read_split
from deepbrain.training.modeldir import install

MODEL_FILES = ("final.nnet", "final.feature_transform", "final.mat", "ali_train_pdf.counts",
               "phones.txt", "cmvn_opts", "splice_opts", "conf/mfcc.conf")


def test_smoke_model_dir_describes_itself(smoke):
    _, d, result, epochs = smoke
    for f in MODEL_FILES + ("README.md", "examples/text", "examples/phones.ark"):
        assert (d / f).is_file(), f
    assert not (d / "lda").exists()
    assert (d / "cmvn_opts").read_text() == "--norm-means=true --norm-vars=true\n"
    assert (d / "splice_opts").read_text() == "--left-context=3 --right-context=3\n"
    assert "--dither=0" in (d / "conf" / "mfcc.conf").read_text().split()
    m = load_model(d)
    assert m.mfcc.num_ceps == 13 and not m.mfcc.use_energy and m.mfcc.dither == 0
    assert m.cmvn.norm_means and m.cmvn.norm_vars and not m.cmvn.per_speaker
    assert (m.splice.left_context, m.splice.right_context) == (3, 3)
    assert m.transform.shape == (40, 91)
    assert [c.marker for c in m.feature_transform.components] == \
        ["<Splice>", "<AddShift>", "<Rescale>"]
    assert m.feature_transform.output_dim == 440 and m.nnet.input_dim == 440
    assert m.hidden_dims == (32, 32) and m.nnet.output_dim == 39
    assert m.phones[0] == "sil" and len(m.phones) == 39
    # The counts are of every frame read, as Kaldi counts its whole alignment dir (cv part
    # included): each train utterance's versions, the validation utterances' perturbed
    # copies too (read, not trained on: at most their frames and 1.6 s of padding a side).
    counted = m.class_frame_counts.sum()
    trained = result.frames["train_all"][1] + result.frames["valid"][1]
    copies = SMOKE.copies - 1
    valid_utts, valid_frames = result.frames["valid"]
    assert trained < counted <= trained + copies * (valid_frames + valid_utts * 2 * 160)
    assert [e.epoch for e in epochs] == [0, 1] and list(result.epochs) == epochs
    assert epochs[1].train_loss < epochs[0].valid_loss


def test_smoke_model_runs_through_the_numpy_engine(smoke_model):
    m = load_model(smoke_model)
    wavs = example_wavs(smoke_model)
    labels = example_labels(smoke_model)
    assert wavs and sorted(labels) == [w.stem for w in wavs]
    req = Request((1, 2), output=True)
    for acts in compute_activations(utterances_from_wavs(wavs), m, req, "numpy"):
        n = labels[acts.utt_id].size
        assert acts.output.shape == (n, 39) and acts.layers[2].shape == (n, 32)
        assert np.allclose(acts.output.sum(axis=1), 1, atol=1e-5)


def test_smoke_result_and_readme_agree(smoke):
    _, d, r, _ = smoke
    assert r.frames["test"][0] == 2 and r.test.frames == r.frames["test"][1]
    assert 0 <= r.test.accuracy <= 1 and len(r.selectivity) == 2
    assert all(s.units == 32 and 0 <= s.selective <= 32 for s in r.selectivity)
    assert len(r.untrained_selectivity) == 2
    assert r.sizes["final.nnet"] == (d / "final.nnet").stat().st_size
    text = (d / "README.md").read_text()
    assert f"Test frame accuracy: {100 * r.test.accuracy:.1f} %" in text
    assert "deepbrain build-map" in text and "MIT" in text and "GPL-3.0" in text
    assert f"espeak-ng {r.corpus.espeak_ng_version}" in text
    for e in r.examples:
        assert f"examples/{e.utt_id}.wav" in text and (d / "examples" / f"{e.utt_id}.wav").is_file()
    assert "Kruskal-Wallis" in text and "| 2 | 32 | " in text


def test_recipe_is_deterministic(smoke, tmp_path):
    work, first, _, _ = smoke
    make_model(tmp_path / "again", work, SMOKE)  # reuses the work dir's corpus
    for f in MODEL_FILES + ("examples/phones.ark", "examples/text"):
        assert (tmp_path / "again" / f).read_bytes() == (first / f).read_bytes(), f
    assert [p.name for p in example_wavs(tmp_path / "again")] == \
        [p.name for p in example_wavs(first)]


def test_maps_are_kept_only_for_an_unchanged_network(tmp_path):
    out = tmp_path / "model"
    (out / "lda" / "1").mkdir(parents=True)
    (out / "final.nnet").write_bytes(b"A")
    (out / "lda" / "1" / "vertices").write_text("0 0\n")
    for nnet, kept in ((b"A", True), (b"B", False)):
        build = tmp_path / f"build{nnet.decode()}"
        build.mkdir()
        (build / "final.nnet").write_bytes(nnet)
        assert install(build, out) is kept
        assert (out / "final.nnet").read_bytes() == nnet and not build.exists()
        assert (out / "lda" / "1" / "vertices").is_file() is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left behind


def test_a_folder_that_is_not_a_model_is_never_replaced(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not a model directory"):
        make_model(tmp_path / "notes", tmp_path / "work", SMOKE)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    assert not (tmp_path / "work").exists()


def test_labels_that_do_not_fit_the_frames_are_an_error(tmp_path):
    import kaldiio

    wav = tmp_path / "u1.wav"
    wav.write_bytes(wav_bytes(speechlike(0.5)))
    (tmp_path / "wav.scp").write_text(f"u1 {wav}\n")
    (tmp_path / "utt2spk").write_text("u1 s1\n")
    kaldiio.save_ark(str(tmp_path / "phones.ark"), {"u1": np.zeros(10, np.int32)},
                     scp=str(tmp_path / "phones.scp"))
    with pytest.raises(TrainingError, match="u1 has 10 labels for 48 MFCC frames"):
        read_split(tmp_path)
    (tmp_path / "phones.scp").unlink()
    with pytest.raises(TrainingError, match="missing .*phones.scp"):
        read_split(tmp_path)


def test_a_corpus_of_another_recipe_is_made_again(tmp_path, monkeypatch):
    """The work dir's corpus is reused only when corpus.json says it is this kind, seed,
    requested size and recipe: an older recipe's corpus (other voices, other labels) is
    not silently trained on."""
    import json

    from deepbrain.corpus import voices
    from deepbrain.training.recipe import RecipeConfig, _corpus

    made = []
    monkeypatch.setattr(voices, "make_voices_corpus", lambda *a, **k: made.append(a))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    config = RecipeConfig(utts=40, seed=3)
    info = {"kind": "voices", "seed": 3, "utterances": {"train": 35, "test": 4},
            "requested": 40, "recipe": voices.RECIPE}
    for recipe, remade in ((voices.RECIPE, False), (voices.RECIPE - 1, True), (None, True)):
        (corpus / "corpus.json").write_text(json.dumps({**info, "recipe": recipe}))
        made.clear()
        assert _corpus(corpus, config, None, None) == corpus
        assert bool(made) == remade, recipe
