"""``deepbrain activations --engine kaldi`` on nnet3 dirs (getact_nnet3.sh, real Kaldi) equals
the numpy engine within what docs/nnet3.md reports: 2e-3 of each layer's largest absolute
value (end to end; MFCC and i-vectors computed by each engine)."""

from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest
from cli_models import synthetic_model_dir, write_ivectors
from deepbrain.cli import main
from speech import make_wavs
from support import speechlike, wav_bytes

pytestmark = pytest.mark.kaldi
BOUND = 2e-3  # docs/nnet3.md: numpy end to end vs Kaldi, the same test bound


def activations(capsys, out, *argv):
    code = main(["activations", *map(str, argv), "--out", str(out), "-q"])
    _, err = capsys.readouterr()
    assert code == 0, err
    return out


def tables(out):
    return {p.stem: {k: np.asarray(v) for k, v in kaldiio.load_scp(str(p)).items()}
            for p in sorted(out.glob("*.scp"))}


def worst(numpy_out, kaldi_out):
    """Per table: the largest |numpy - Kaldi| over utterances, as a fraction of max |Kaldi|."""
    a, b = tables(numpy_out), tables(kaldi_out)
    assert a.keys() == b.keys()
    errors = {}
    for name in a:
        assert a[name].keys() == b[name].keys()
        diff = max(float(np.abs(a[name][u] - b[name][u]).max()) for u in a[name])
        scale = max(float(np.abs(b[name][u]).max()) for u in b[name])
        for u in a[name]:
            assert a[name][u].shape == b[name][u].shape, (name, u)
        errors[name] = diff / max(scale, 1e-30)
    return errors


def test_vosk_both_engines_agree(capsys, vosk_model, tmp_path):
    wavs = make_wavs(tmp_path / "wavs")
    if not wavs:
        pytest.skip("no alsa recordings and no espeak-ng to make speech with")
    common = [*wavs, "--model", vosk_model, "--output"]
    n = activations(capsys, tmp_path / "numpy", *common, "--engine", "numpy")
    k = activations(capsys, tmp_path / "kaldi", *common, "--engine", "kaldi", "--nj", 2,
                    "--keep-workdir", tmp_path / "work")
    errors = worst(n, k)
    print("numpy vs kaldi engine, Vosk ko, " + ", ".join(w.name for w in wavs) + ": "
          + ", ".join(f"{name} {e:.1e}" for name, e in errors.items()))
    assert len(errors) == 17 and max(errors.values()) < BOUND
    assert (tmp_path / "work" / "exp" / ".done").is_file()
    sk = json.loads((k / "summary.json").read_text())
    sn = json.loads((n / "summary.json").read_text())
    assert sk["engine"] == "kaldi" and sk["layer_names"] == sn["layer_names"]
    assert sk["frames"] == sn["frames"]


def test_a_small_network_with_given_ivectors(capsys, tmp_path):
    model = synthetic_model_dir(tmp_path / "model", raw=True)
    wavs = []
    for i, seconds in enumerate((1.0, 2.3)):
        wavs.append(tmp_path / f"utt {i}.wav")  # a space in the name: ids are made safe
        wavs[-1].write_bytes(wav_bytes(speechlike(seconds, seed=i)))
    write_ivectors(tmp_path / "iv.ark", {"utt_0": 98, "utt_1": 228}, period=7, scp=True)
    common = [*wavs, "--model", model, "--output", "--ivectors", tmp_path / "iv.scp",
              "--ivector-period", 7, "--layers", "1,3-5"]
    n = activations(capsys, tmp_path / "numpy", *common, "--engine", "numpy")
    k = activations(capsys, tmp_path / "kaldi", *common, "--engine", "kaldi")
    errors = worst(n, k)
    print("numpy vs kaldi engine, nettools network, --ivectors: "
          + ", ".join(f"{name} {e:.1e}" for name, e in errors.items()))
    assert set(errors) == {"layer1", "layer3", "layer4", "layer5", "output"}
    assert max(errors.values()) < 1e-4
