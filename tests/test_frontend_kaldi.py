"""Both engines against real Kaldi (marker ``kaldi``) on nnet1 dirs as Kaldi's recipes make
them (tests/kaldi_frontend.py): fbank + per-speaker variance CMVN + deltas, online CMVN, MFCC
+ pitch. The reference is Kaldi's own command lines, not getact.sh. Each stage and layer is
compared per utterance; ``pytest -s`` prints the largest differences found."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kaldi_frontend import KINDS, Kaldi, make_model, reference, write_data_dir
from deepbrain.artefacts import Request, Utterance
from deepbrain.engines import kaldi_engine
from deepbrain.model import load_model
from deepbrain.pipeline import compute_activations

pytestmark = pytest.mark.kaldi

# Speakers in the order of the sorted utterance ids, as in a Kaldi data dir (the ids have the
# speakers' as prefixes): every engine takes them in that order, which is the order the pitch
# noise runs through. The sweep (utt4) is a speaker of its own (see NUMPY_TOLERANCE).
SPEAKERS = {"utt1": "A", "utt2": "A", "utt3": "B", "utt4": "C", "utt5": "D"}
SWEEP = ("utt4", "C")
MAXIMA: dict[tuple[str, str, str, str], tuple[float, float]] = {}


@pytest.fixture(scope="module")
def kaldi() -> Kaldi:
    return Kaldi(Path(os.environ["KALDI_ROOT"]))


@pytest.fixture(scope="module")
def utts(golden) -> list[Utterance]:
    return [Utterance(u, str(golden / "wav" / f"{u}.wav"), s) for u, s in SPEAKERS.items()]


@pytest.fixture(scope="module")
def built(kaldi, utts, tmp_path_factory):
    root = tmp_path_factory.mktemp("frontend-kaldi")
    data = write_data_dir(root / "data", [(u.utt_id, Path(u.path), u.speaker) for u in utts])
    made = {}
    for kind in KINDS:
        if kind == "online_cmvn" and not kaldi.has("apply-cmvn-online"):
            continue  # its tests skip, saying why
        model = make_model(kaldi, kind, root / kind, data, root / f"work-{kind}")
        made[kind] = (model, reference(kaldi, kind, model, data, root / f"ref-{kind}"))
    made["data"] = data
    return made


def _model(built, kind):
    if kind not in built:
        pytest.skip(f"{kind}: apply-cmvn-online is not built (make -C src online2bin)")
    return built[kind]


def _run(engine: str, model_dir: Path, utts, tmp_path) -> dict:
    model = load_model(model_dir, per_speaker_cmvn=True)
    request = Request(layers=(1, 2), output=True, keep_intermediate=True)
    return {a.utt_id: a for a in compute_activations(utts, model, request, engine=engine)}


def _compare(engine: str, kind: str, acts: dict, ref: dict) -> dict[str, dict[str, float]]:
    """max |ours - Kaldi's| per table and utterance (the CMVN statistics per speaker)."""
    found: dict[str, dict[str, float]] = {}
    for name, table in ref.items():
        for utt, theirs in table.items():
            a = acts[utt] if name != "cmvn" else \
                next(x for u, x in acts.items() if SPEAKERS[u] == utt)
            ours = a.layers[int(name[5:])] if name.startswith("layer") else \
                a.output if name == "output" else a.stages[name]
            assert ours.shape == theirs.shape, (name, utt)
            diff = float(np.abs(ours - theirs).max())
            found.setdefault(name, {})[utt] = diff
            key = (engine, kind, name, "sweep" if utt in SWEEP else "speech")
            scale = float(np.abs(theirs).max())
            if diff >= MAXIMA.get(key, (-1.0, 0))[0]:
                MAXIMA[key] = (diff, scale)
    return found


# Largest difference allowed, relative to the largest value of Kaldi's table. Features from
# kaldi-native-fbank (float32 FFT and logs computed otherwise) differ from Kaldi's in the
# last bits; every later stage carries that on. The sweep (utt4) has near-empty mel bins,
# where that round-off is largest (as for the seed's golden MFCCs).
NUMPY_TOLERANCE = 2e-4
NUMPY_TOLERANCE_SWEEP = 5e-3


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_engine_equals_kaldi(built, utts, kind, tmp_path):
    model, ref = _model(built, kind)
    found = _compare("numpy", kind, _run("numpy", model, utts, tmp_path), ref)
    for name, per_utt in found.items():
        for utt, diff in per_utt.items():
            scale = float(np.abs(ref[name][utt]).max())
            tol = NUMPY_TOLERANCE_SWEEP if utt in SWEEP else NUMPY_TOLERANCE
            assert diff <= tol * max(scale, 1.0), (name, utt, diff, scale)


@pytest.mark.parametrize("kind", list(KINDS))
def test_kaldi_engine_equals_kaldi(built, utts, kind, tmp_path):
    """getact.sh runs the same binaries: equal but for the float32 round-off of running the
    network a layer at a time."""
    model, ref = _model(built, kind)
    if kind == "online_cmvn" and "apply-cmvn-online" not in kaldi_engine.find_kaldi().binaries:
        pytest.skip(f"apply-cmvn-online is not built in {os.environ['KALDI_ROOT']}/src/online2bin")
    found = _compare("kaldi", kind, _run("kaldi", model, utts, tmp_path), ref)
    for name, per_utt in found.items():
        for utt, diff in per_utt.items():
            scale = float(np.abs(ref[name][utt]).max())
            assert diff <= 1e-6 * max(scale, 1.0), (name, utt, diff, scale)


def _avx512_kernels() -> bool:
    """Whether OpenBLAS picks its AVX-512 (SkylakeX) kernels here, as it does on a CPU with
    avx512f unless OPENBLAS_CORETYPE names another core."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    core = os.environ.get("OPENBLAS_CORETYPE", "").lower()
    return "avx512f" in flags and core in ("", "skylakex", "cooperlake", "sapphirerapids")


def test_pitch_columns_are_kaldis_bit_for_bit(built, utts, tmp_path):
    """deepbrain.pitch is exact: the three pitch columns (and the noise continued over the
    five utterances in order) equal process-kaldi-pitch-feats' own, where Kaldi's OpenBLAS
    runs its AVX2 kernels, whose summation order deepbrain.kaldi_blas follows. Its AVX-512
    kernels sum in another order and Kaldi's own pitch moves a little (at most 6.5e-5 on
    values up to 1.5 on an AVX-512 EPYC, where OPENBLAS_CORETYPE=Haswell made it bit-exact
    again): then within 1e-4 of each column's largest value."""
    model, ref = _model(built, "mfcc_pitch")
    acts = _run("numpy", model, utts, tmp_path)
    for u in SPEAKERS:
        ours, theirs = acts[u].stages["feats"][:, -3:], ref["feats"][u][:, -3:]
        if _avx512_kernels():
            assert np.all(np.abs(ours - theirs).max(axis=0) <= 1e-4 * np.abs(theirs).max(axis=0)), u
        else:
            assert np.array_equal(ours, theirs), u


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_stage_alone_equals_kaldis(built, kind):
    """Each stage's numpy function on Kaldi's own input equals Kaldi's output: apply-cmvn
    (speaker statistics), apply-cmvn-online (the speaker's earlier utterances carried over),
    add-deltas, the feature transform. What the engine comparison adds on top comes from the
    features (kaldi-native-fbank)."""
    from deepbrain.features import (add_deltas, apply_cmvn, apply_cmvn_online,
                                    compute_cmvn_stats)

    model_dir, ref = _model(built, kind)
    model = load_model(model_dir, per_speaker_cmvn=True)
    fe = model.frontend
    speaker_stats: dict[str, np.ndarray] = {}
    worst: dict[str, float] = {}
    for u, spk in SPEAKERS.items():
        got = {}
        feats = ref["feats"][u]
        if fe.stage("online-cmvn"):
            got["cmvn_feats"] = apply_cmvn_online(feats, fe.stage("online-cmvn").options,
                                                  fe.global_cmvn_stats, speaker_stats.get(spk))
            mine = compute_cmvn_stats(feats)
            speaker_stats[spk] = mine + speaker_stats[spk] if spk in speaker_stats else mine
        if fe.cmvn is not None:
            got["cmvn_feats"] = apply_cmvn(feats, ref["cmvn"][spk], fe.cmvn)
        before = ref["cmvn_feats"][u] if "cmvn_feats" in ref else feats
        if fe.stage("deltas"):
            got["deltas"] = add_deltas(before, fe.stage("deltas").options)
            before = ref["deltas"][u]
        got["nnet_input"] = model.feature_transform.propagate(before)
        for name, ours in got.items():
            diff = float(np.abs(ours - ref[name][u]).max())
            worst[name] = max(worst.get(name, 0.0), diff)
            scale = float(np.abs(ref[name][u]).max())
            MAXIMA[("alone", kind, name, "sweep" if u in SWEEP else "speech")] = max(
                MAXIMA.get(("alone", kind, name, "sweep" if u in SWEEP else "speech"),
                           (0.0, 0.0)), (diff, scale))
            assert diff <= 2e-6 * max(scale, 1.0), (name, u, diff)
    assert worst


def test_report_maxima():
    """Prints the largest difference per engine, model, table (run last; see -s)."""
    if not MAXIMA:
        pytest.skip("no comparison ran")
    print("\nlargest |engine - Kaldi| per table, over the speech utterances and over the "
          "sweep (scale: Kaldi's largest |x| there):")
    for (engine, kind, name, audio), (diff, scale) in sorted(MAXIMA.items()):
        print(f"  {engine:<6} {kind:<13} {name:<11} {audio:<7} {diff:.3g}  (scale {scale:.3g})")


def test_cli_utt2spk_in_both_engines(built, utts, tmp_path, capsys):
    """deepbrain activations --scp --utt2spk, numpy and kaldi: per-speaker statistics in both,
    the same as Kaldi's own (speaker A's two utterances share theirs)."""
    import kaldiio

    from deepbrain.cli import main

    model, ref = _model(built, "fbank_deltas")
    (tmp_path / "wav.scp").write_text("".join(f"{u.utt_id} {u.path}\n" for u in utts))
    (tmp_path / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in SPEAKERS.items()))
    for engine in ("numpy", "kaldi"):
        out = tmp_path / engine
        code = main(["activations", "--scp", str(tmp_path / "wav.scp"), "--utt2spk",
                     str(tmp_path / "utt2spk"), "--model", str(model), "--out", str(out),
                     "--engine", engine, "--keep-intermediate", "-q"])
        assert code == 0, capsys.readouterr().err
        normed = dict(kaldiio.load_scp(str(out / "cmvn_feats.scp")))
        layer2 = dict(kaldiio.load_scp(str(out / "layer2.scp")))
        for u in ("utt1", "utt2", "utt3"):
            assert np.abs(normed[u] - ref["cmvn_feats"][u]).max() <= 2e-4 * 4, (engine, u)
            assert np.abs(layer2[u] - ref["layer2"][u]).max() <= 2e-4, (engine, u)


def test_recipe_loglik_uses_prior_counts_first(built, kaldi, tmp_path):
    """getact.sh --output-type loglik divides by prior_counts where there is one, as
    steps/nnet/decode.sh picks it, else ali_train_pdf.counts."""
    import shutil
    import subprocess

    import kaldiio

    model, _ = _model(built, "fbank_deltas")
    model = Path(shutil.copytree(model, tmp_path / "m"))
    (model / "ali_train_pdf.counts").write_text("[ " + " ".join(["100"] * 10) + " ]\n")
    (model / "prior_counts").write_text("[ " + " ".join(str(10 * k + 1) for k in range(10))
                                        + " ]\n")
    r = subprocess.run(["bash", str(Path(__file__).parents[1] / "kaldi_recipes" / "getact.sh"),
                        "--write-output", "true", "--output-type", "loglik", built["data"],
                        model, tmp_path / "exp"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    ref = tmp_path / "ref.ark"
    kaldi.run("nnet-forward", "--no-softmax=true",
              f"--class-frame-counts={model / 'prior_counts'}",
              f"--feature-transform={model / 'final.feature_transform'}", model / "final.nnet",
              f"scp:{tmp_path / 'exp' / 'deltas.scp'}", f"ark:{ref}", cwd=tmp_path)
    ours = dict(kaldiio.load_scp(str(tmp_path / "exp" / "output.scp")))
    theirs = dict(kaldiio.load_ark(str(ref)))
    assert sorted(ours) == sorted(theirs) == sorted(SPEAKERS)
    for u in SPEAKERS:
        assert np.abs(ours[u] - theirs[u]).max() <= 1e-5 * max(1.0, np.abs(theirs[u]).max())
