"""The front end as data (deepbrain.frontend) and as getact.sh builds it: the same chain,
from the same files, printed the same way (``getact.sh --print-frontend true``, no Kaldi
needed); the conventions of a steps/nnet dir and of the original demo's layout; and every
stage computed a chunk at a time equal to the whole utterance."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from support import ROOT, speechlike, wav_bytes, write_frontend_model, write_tiny_model
from deepbrain.artefacts import Request, Utterance, collect
from deepbrain.engines import numpy_engine
from deepbrain.errors import ModelError
from deepbrain.frontend import read_frontend
from deepbrain.model import load_model
from deepbrain.options import (CmvnOptions, DeltaOptions, FbankOptions, MfccOptions,
                               OnlineCmvnOptions, SpliceOptions)
from deepbrain.pitch import PitchOptions, ProcessPitchOptions

GETACT = ROOT / "kaldi_recipes" / "getact.sh"

FBANK_CONF = "--num-mel-bins=40\n--sample-frequency=16000  # as steps/make_fbank.sh's conf\n"


def steps_fbank_model(d: Path) -> Path:
    """issue 13's steps/nnet dir: fbank 40, CMVN with variances, deltas, splice +-5."""
    return write_frontend_model(d, {"conf/fbank.conf": FBANK_CONF,
                                    "cmvn_opts": "--norm-means=true --norm-vars=true\n",
                                    "delta_opts": "--delta-order=2\n"}, 120, splice=5)


def online_model(d: Path) -> Path:
    return write_frontend_model(d, {"conf/mfcc.conf": "--use-energy=false\n--num-ceps=13\n",
                                    "online_cmvn_opts": "--cmn-window=40 --speaker-frames=30 "
                                                        "--global-frames=20 --norm-vars=true\n",
                                    "delta_opts": "--delta-order=1 --delta-window=3\n"},
                                26, global_stats_dim=13, splice=2)


def pitch_model(d: Path) -> Path:
    return write_frontend_model(d, {"conf/mfcc.conf": "--use_energy=F\n",
                                    "conf/pitch.conf": "--sample-frequency=16000\n",
                                    "conf/pitch_process.conf": "--delta-pitch-noise-stddev=0.05"
                                                               "\n--add-raw-log-pitch=true\n",
                                    "cmvn_opts": "--norm-vars=false\n"},
                                8, final_mat=(8, 17 * 9))


def demo_model(d: Path) -> Path:
    return ROOT / "models" / "demo"


def seed_model(d: Path) -> Path:
    return write_tiny_model(d)


EXPECTED = {
    seed_model: [
        "mfcc        compute-mfcc-feats --dither=0 --sample-frequency=16000 --use-energy=false",
        "cmvn        apply-cmvn --norm-means=true --norm-vars=false"],
    demo_model: [  # the shipped model's own options (retraining may change them)
        "mfcc        compute-mfcc-feats --dither=0 --num-ceps=13 --sample-frequency=16000 "
        "--use-energy=false",
        "cmvn        apply-cmvn " + " ".join(sorted(
            (ROOT / "models" / "demo" / "cmvn_opts").read_text().split())),
        "splice      splice-feats --left-context=3 --right-context=3",
        "transform   transform-feats final.mat"],
    steps_fbank_model: [
        "fbank       compute-fbank-feats --dither=0 --num-mel-bins=40 --sample-frequency=16000",
        "cmvn        apply-cmvn --norm-means=true --norm-vars=true",
        "deltas      add-deltas --delta-order=2"],
    online_model: [
        "mfcc        compute-mfcc-feats --dither=0 --num-ceps=13 --use-energy=false",
        "online-cmvn apply-cmvn-online --cmn-window=40 --global-frames=20 --norm-vars=true "
        "--speaker-frames=30 global_cmvn_stats.mat",
        "deltas      add-deltas --delta-order=1 --delta-window=3"],
    pitch_model: [
        "mfcc        compute-mfcc-feats --dither=0 --use-energy=false",
        "pitch       compute-kaldi-pitch-feats --sample-frequency=16000 | "
        "process-kaldi-pitch-feats --add-raw-log-pitch=true --delta-pitch-noise-stddev=0.05 | "
        "paste-feats --length-tolerance=2",
        "cmvn        apply-cmvn --norm-vars=false",
        "splice      splice-feats --left-context=4 --right-context=4",
        "transform   transform-feats final.mat"],
}


def print_frontend(model: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KALDI_ROOT"}  # no Kaldi needed
    return subprocess.run(["bash", str(GETACT), "--print-frontend", "true", str(model)],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("make", list(EXPECTED), ids=lambda f: f.__name__)
def test_deepbrain_and_getact_describe_the_same_chain(tmp_path, make):
    """FrontEnd.describe() and getact.sh --print-frontend, side by side, for each kind."""
    model = make(tmp_path / "m")
    ours = load_model(model).frontend.describe()
    assert ours == EXPECTED[make]
    r = print_frontend(model)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ours


def test_the_recipes_default_mfcc_conf_is_the_seeds(tmp_path):
    """The demo layout without conf/: getact.sh reads its own conf/mfcc.conf, deepbrain its
    MfccOptions() defaults: the same options."""
    from deepbrain.options import load_mfcc_options

    conf = ROOT / "kaldi_recipes" / "conf" / "mfcc.conf"
    assert load_mfcc_options(conf) == MfccOptions()


def _known_in_getact(name: str) -> dict[str, str]:
    text = GETACT.read_text()
    value = re.search(rf'^{name}_known="(.*?)"', text, re.S | re.M).group(1)
    value = value.replace("$framed_known", _known_raw("framed", text))
    return dict(w.split(":") for w in value.split())


def _known_raw(name: str, text: str) -> str:
    return re.search(rf'^{name}_known="(.*?)"', text, re.S | re.M).group(1)


KINDS = {bool: "b", "bool": "b", int: "i", "int": "i", float: "f", "float": "f", str: "s",
         "str": "s"}


@pytest.mark.parametrize("name, cls", [("mfcc", MfccOptions), ("fbank", FbankOptions),
                                       ("pitch", PitchOptions),
                                       ("pitch_process", ProcessPitchOptions),
                                       ("cmvn", CmvnOptions), ("online_cmvn", OnlineCmvnOptions),
                                       ("delta", DeltaOptions), ("splice", SpliceOptions)])
def test_getact_knows_the_options_deepbrain_reads(name, cls):
    ours = {f.name.replace("_", "-"): KINDS[f.type] for f in fields(cls)
            if f.name != "per_speaker"}
    assert _known_in_getact(name) == ours


# -- the conventions ---------------------------------------------------------------------

def test_a_steps_dir_needs_its_feature_config(tmp_path):
    model = write_frontend_model(tmp_path / "m", {"cmvn_opts": "--norm-vars=true\n"}, 13)
    with pytest.raises(ModelError, match="conf: has no mfcc.conf or fbank.conf"):
        load_model(model)
    r = print_frontend(model)
    assert r.returncode == 1 and "has no mfcc.conf or fbank.conf" in r.stderr


def test_a_steps_dir_has_cmvn_only_with_cmvn_opts_and_splices_4(tmp_path):
    model = write_frontend_model(tmp_path / "m", {"conf/mfcc.conf": "--num-ceps=13\n"},
                                 40, final_mat=(40, 117))
    fe = load_model(model).frontend
    assert [s.name for s in fe.stages] == ["mfcc", "splice", "transform"]
    assert fe.stage("splice").options == SpliceOptions(4, 4)
    assert print_frontend(model).stdout.splitlines() == fe.describe()


def test_norm_means_false_means_no_cmvn_stage(tmp_path):
    model = write_frontend_model(tmp_path / "m", {"cmvn_opts": "--norm-means=f\n"}, 13,
                                 kaldi_dir=False)
    fe = load_model(model).frontend
    assert [s.name for s in fe.stages] == ["mfcc"]
    assert print_frontend(model).stdout.splitlines() == fe.describe()


@pytest.mark.parametrize("files, message", [
    ({"conf/mfcc.conf": "", "conf/fbank.conf": ""}, "has both mfcc.conf and fbank.conf"),
    ({"cmvn_opts": "", "online_cmvn_opts": ""}, "has both cmvn_opts and online_cmvn_opts"),
    ({"online_cmvn_opts": ""}, "global_cmvn_stats.mat: missing"),
    ({"splice_opts": "--left-context=2"}, "splice_opts: present but there is no final.mat"),
    ({"conf/pitch_process.conf": ""}, "present but there is no conf/pitch.conf"),
])
def test_inconsistent_dirs_are_refused_by_both(tmp_path, files, message):
    files = {"conf/mfcc.conf": "--num-ceps=13\n", **files}
    model = write_frontend_model(tmp_path / "m", files, 13)
    with pytest.raises(ModelError, match=re.escape(message)):
        load_model(model)
    r = print_frontend(model)
    assert r.returncode == 1 and message in r.stderr, r.stderr


def test_pitch_must_share_the_features_frames(tmp_path):
    model = write_frontend_model(tmp_path / "m", {"conf/mfcc.conf": "--frame-shift=10\n",
                                                  "conf/pitch.conf": "--frame-shift=12.5\n"}, 16)
    with pytest.raises(ModelError, match=r"pitch.conf: --sample-frequency=16000 "
                                         r"--frame-shift=12.5, but .*mfcc.conf says 16000 "
                                         r"and 10; paste-feats"):
        load_model(model)


def test_the_stages_dims_and_contexts(tmp_path):
    fe = load_model(steps_fbank_model(tmp_path / "m")).frontend
    assert [(s.name, s.dim, s.left, s.right) for s in fe.stages] == \
        [("fbank", 40, 0, 0), ("cmvn", 40, 0, 0), ("deltas", 120, 4, 4)]
    fe = load_model(pitch_model(tmp_path / "p")).frontend
    assert fe.stage("pitch").dim == 17 and fe.pitch.process.dim == 4
    assert fe.describe(dims=True)[1].endswith("-> 17")


def test_per_speaker_is_the_data_not_the_model(tmp_path):
    model = steps_fbank_model(tmp_path / "m")
    assert read_frontend(model, per_speaker=True).cmvn.per_speaker
    assert read_frontend(model, per_speaker=True).describe() == read_frontend(model).describe()


# -- chunks equal the whole utterance, every stage type ---------------------------------------

def _run_numpy(model: Path, wavs: list[tuple[str, Path, str]], chunk: int):
    m = load_model(model, per_speaker_cmvn=True)
    utts = [Utterance(u, str(p), s) for u, p, s in wavs]
    request = Request(layers=tuple(range(1, m.num_hidden + 1)), output=True,
                      keep_intermediate=True)
    return list(collect(numpy_engine.stream(utts, m, request, chunk_frames=chunk),
                        m.frame_shift, "numpy", True))


EXACT = ("feats", "cmvn", "cmvn_feats", "deltas", "spliced")


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to float32 rounding in a matrix product: BLAS sums a row's products in an
    order that depends on how many rows it is given, so a chunk's rows may differ from the
    whole's in the last bits."""
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0)) <= \
        1e-5 * max(1.0, float(np.max(np.abs(a), initial=0)))


@pytest.mark.parametrize("make", [steps_fbank_model, online_model, pitch_model],
                         ids=lambda f: f.__name__)
def test_chunks_equal_the_whole_utterance(tmp_path, make):
    """deltas, online CMVN (speaker statistics carried over), pitch (noise continued over
    utterances): computed 7 frames at a time equal to all at once, the front end's stages
    bit for bit, matrix products to float32 rounding."""
    model = make(tmp_path / "m")
    wavs = []
    for i, (seconds, spk) in enumerate([(1.3, "a"), (0.7, "a"), (0.9, "b")]):
        p = tmp_path / f"u{i}.wav"
        p.write_bytes(wav_bytes(speechlike(seconds, seed=i)))
        wavs.append((f"u{i}", p, spk))
    whole = _run_numpy(model, wavs, 100000)
    chunked = _run_numpy(model, wavs, 7)
    assert [a.utt_id for a in whole] == [b.utt_id for b in chunked] == ["u0", "u1", "u2"]
    for a, b in zip(whole, chunked):
        assert a.stages.names() == b.stages.names()
        assert set(EXACT) & set(a.stages.names())
        for name in a.stages.names():
            if name in EXACT:
                assert np.array_equal(a.stages[name], b.stages[name]), name
            else:
                assert _close(a.stages[name], b.stages[name]), name
        for k in a.layers:
            assert _close(a.layers[k], b.layers[k]), k
        assert _close(a.output, b.output)


def test_online_cmvn_carries_the_speakers_statistics(tmp_path):
    """The second utterance of a speaker starts from the first's statistics (apply-cmvn-online
    --spk2utt); another speaker's does not."""
    model = online_model(tmp_path / "m")
    p = tmp_path / "u.wav"
    p.write_bytes(wav_bytes(speechlike(0.6)))
    same = _run_numpy(model, [("a1", p, "a"), ("a2", p, "a")], 1000)
    other = _run_numpy(model, [("a1", p, "a"), ("b1", p, "b")], 1000)
    assert np.array_equal(same[0].stages["cmvn_feats"], other[1].stages["cmvn_feats"])
    assert not np.array_equal(same[1].stages["cmvn_feats"], same[0].stages["cmvn_feats"])


def test_pitch_noise_continues_over_utterances(tmp_path):
    """One process-kaldi-pitch-feats over all utterances: the same wav twice gets other
    delta-pitch noise the second time; the first equals a run of its own."""
    model = pitch_model(tmp_path / "m")
    p = tmp_path / "u.wav"
    p.write_bytes(wav_bytes(speechlike(0.8)))
    two = _run_numpy(model, [("x", p, "x"), ("y", p, "y")], 1000)
    one = _run_numpy(model, [("x", p, "x")], 1000)
    assert np.array_equal(two[0].stages["feats"], one[0].stages["feats"])
    first, second = two[0].stages["feats"], two[1].stages["feats"]
    assert np.array_equal(first[:, :15], second[:, :15])   # mfcc, pov, log-pitch
    assert not np.array_equal(first[:, 15], second[:, 15])  # the delta-pitch's noise
    assert np.array_equal(first[:, 16], second[:, 16])     # raw log-pitch


def test_cli_utt2spk_gives_per_speaker_statistics(tmp_path, capsys):
    """deepbrain activations --scp --utt2spk on a steps dir: CMVN with variances over each
    speaker's utterances, deltas kept as a result of their own."""
    import kaldiio

    from deepbrain.cli import main
    from deepbrain.features import apply_cmvn, compute_cmvn_stats
    from deepbrain.results import existing_results

    model = steps_fbank_model(tmp_path / "m")
    scp, utt2spk = [], []
    for i, spk in enumerate("aab"):
        p = tmp_path / f"u{i}.wav"
        p.write_bytes(wav_bytes(speechlike(0.5 + 0.2 * i, seed=i)))
        scp.append(f"{spk}-u{i} {p}\n")
        utt2spk.append(f"{spk}-u{i} {spk}\n")
    (tmp_path / "wav.scp").write_text("".join(scp))
    (tmp_path / "utt2spk").write_text("".join(utt2spk))
    out = tmp_path / "out"
    code = main(["activations", "--scp", str(tmp_path / "wav.scp"), "--utt2spk",
                 str(tmp_path / "utt2spk"), "--model", str(model), "--out", str(out),
                 "--engine", "numpy", "--keep-intermediate", "-q"])
    assert code == 0, capsys.readouterr().err
    assert {"feats.ark", "cmvn.ark", "cmvn_feats.ark", "deltas.ark"} <= \
        set(existing_results(out))
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    normed = dict(kaldiio.load_scp(str(out / "cmvn_feats.scp")))
    opts = load_model(model).frontend.cmvn
    a = compute_cmvn_stats([feats["a-u0"], feats["a-u1"]])
    for utt, stats in (("a-u0", a), ("a-u1", a), ("b-u2", compute_cmvn_stats(feats["b-u2"]))):
        assert np.allclose(normed[utt], apply_cmvn(feats[utt], stats, opts), atol=1e-6), utt
    assert opts.norm_vars and abs(float(normed["b-u2"].std(axis=0).mean()) - 1) < 1e-3


def test_info_prints_the_front_end(tmp_path, capsys):
    from deepbrain.cli import main

    model = pitch_model(tmp_path / "m")
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out.splitlines()
    fe = load_model(model).frontend
    assert out[1].startswith("front end  16000 Hz, as steps/nnet/decode.sh reads a Kaldi dir")
    assert out[2:2 + len(fe.stages)] == [f"  {line}" for line in fe.describe(dims=True)]
    assert out[3].endswith("paste-feats --length-tolerance=2  -> 17")
