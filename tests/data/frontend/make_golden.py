"""Make golden.npz: real Kaldi's front-end stages for tests/test_frontend_golden.py.

    KALDI_ROOT=/path/to/kaldi python tests/data/frontend/make_golden.py

The model dirs are tests/kaldi_frontend.py's three kinds (fbank + variance CMVN + deltas,
online CMVN, MFCC + pitch), built with Kaldi's own tools; the stage tables are Kaldi's own
command lines (kaldi_frontend.reference). The input is tests/data/pitch's synthetic_voice()
(integer arithmetic only, so the tests rebuild the samples bit for bit) cut into three
utterances, two of one speaker. Stored: the option files' texts, the online model's global
CMVN statistics, and the tables the CI-side tests compare (a few per kind, to stay small:
float32, 90 KB in all). Nothing of Kaldi is stored.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]

# (utterance, first sample, end sample, speaker) of synthetic_voice() at 16 kHz (1.3 s)
UTTS = [("a1", 0, 9600, "a"), ("a2", 9600, 20800, "a"), ("b1", 0, 20800, "b")]
# kind -> table -> utterances whose table is stored
KEEP = {
    "fbank_deltas": {"feats": ("a1", "a2"), "cmvn_feats": ("a1",), "deltas": ("a2",)},
    "online_cmvn": {"feats": ("a1", "a2", "b1"), "cmvn_feats": ("a1", "a2", "b1")},
    "mfcc_pitch": {"feats": ("a1", "a2", "b1"), "cmvn_feats": ("a2",)},
}


def synthetic_voice() -> np.ndarray:
    spec = importlib.util.spec_from_file_location("pitch_golden",
                                                  TESTS / "data" / "pitch" / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_voice(16000)


def write_wavs(d: Path) -> list[tuple[str, Path, str]]:
    x = synthetic_voice().astype("<i2")
    out = []
    for utt, a, b, spk in UTTS:
        p = d / f"{utt}.wav"
        with wave.open(str(p), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(x[a:b].tobytes())
        out.append((utt, p, spk))
    return out


def main() -> int:
    import kaldiio

    sys.path.insert(0, str(TESTS))
    from kaldi_frontend import KINDS, Kaldi, make_model, reference, write_data_dir

    kaldi = Kaldi(Path(os.environ["KALDI_ROOT"]))
    out: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_data_dir(tmp / "data", write_wavs(tmp))
        for kind in KINDS:
            model = make_model(kaldi, kind, tmp / kind, data, tmp / f"work-{kind}")
            ref = reference(kaldi, kind, model, data, tmp / f"ref-{kind}")
            for table, utts in KEEP[kind].items():
                for utt in utts:
                    out[f"{kind}/{table}/{utt}"] = ref[table][utt].astype(np.float32)
            if (model / "global_cmvn_stats.mat").is_file():
                out[f"{kind}/global_cmvn_stats"] = kaldiio.load_mat(
                    str(model / "global_cmvn_stats.mat"))
    np.savez_compressed(HERE / "golden.npz", **out)
    for name, value in out.items():
        print(f"{name}: {value.shape} {value.dtype}")
    print(f"{(HERE / 'golden.npz').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
