"""Hostile ``conf/mfcc.conf`` values: refused by ``info`` exactly where ``activations`` would
crash, with one line naming the file, the value and the fix (issue 9, item 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from deepbrain.audio import Audio
from deepbrain.cli import main
from deepbrain.errors import AudioError
from deepbrain.features import compute_mfcc_feats
from deepbrain.options import MfccOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def with_mfcc_conf(model, *lines):
    (model / "conf").mkdir(exist_ok=True)
    (model / "conf" / "mfcc.conf").write_text("\n".join(lines) + "\n")
    return model


# (mfcc.conf lines, what the message must say)
CASES = [
    (["--frame-shift=0.01"], "--frame-shift=0.01 ms at 16000 Hz is 0 sample(s), at least 1 "
                             "needed; the value is in milliseconds and 0.01 looks like "
                             "seconds: --frame-shift=10?"),
    (["--frame-length=0.01"], "looks like seconds: --frame-length=10?"),
    (["--frame-length=0.025"], "--frame-length=25?"),
    (["--frame-length=-25"], "--frame-length=-25: expected a length in milliseconds above 0"),
    (["--frame-shift=nan"], "--frame-shift=nan: expected a finite number"),
    (["--frame-length=inf"], "--frame-length=inf: expected a finite number"),
    (["--frame-length=1e12"], "deepbrain takes at most 1048576"),
    (["--frame-shift=1e12"], "--frame-shift=1e+12 ms at 16000 Hz is 15999999934464 samples; deepbrain "
                             "takes at most 1048576"),
    (["--low-freq=5000", "--high-freq=4000"], "give 5000..4000 Hz; expected 0 <= low < high "
                                              "<= 8000"),
    (["--high-freq=9000"], "expected 0 <= low < high <= 8000"),
    (["--low-freq=-1"], "expected 0 <= low < high"),
    (["--high-freq=-8000"], "give 20..0 Hz"),
    (["--num-mel-bins=100000"], "--num-mel-bins=100000: too many for a 512-point FFT over "
                                "20..8000 Hz"),
    (["--num-mel-bins=127"], "use at most 126"),
    (["--num-mel-bins=2"], "--num-mel-bins=2: Kaldi needs at least 3"),
    (["--num-mel-bins=1000000000000000000000"], "too many for a 512-point FFT"),
    (["--num-ceps=0"], "num-ceps 0 must be 1..num-mel-bins (23)"),
    (["--preemphasis-coefficient=1e30"], "--preemphasis-coefficient=1e+30: expected 0..1"),
    (["--preemphasis-coefficient=-0.5"], "expected 0..1"),
    (["--sample-frequency=0"], "--sample-frequency=0: expected the wavs' sample rate in Hz, a "
                               "whole number above 0"),
    (["--sample-frequency=-16000"], "above 0"),
    (["--sample-frequency=16000.5"], "a whole number"),
    (["--sample-frequency=100"], "no 3 mel bins fit"),
    (["--dither=1e400"], "--dither=inf: expected a finite number"),
    (["--dither=1e39"], "--dither=1e+39: beyond the range of Kaldi's 32-bit float options"),
    (["--cepstral-lifter=nan"], "--cepstral-lifter=nan"),
    (["--round-to-power-of-two=false", "--frame-length=25.0625"], "401 samples, an odd FFT "
                                                                  "size Kaldi refuses"),
    (["--window-type=kaiser"], "window-type 'kaiser' is not one Kaldi knows; use one of povey"),
]


@pytest.mark.parametrize("lines,message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_info_refuses_what_activations_would_crash_on(tiny_model, speech_wav, tmp_path, capsys,
                                                      lines, message):
    model = with_mfcc_conf(tiny_model, *lines)
    code, out, err = run(capsys, "info", model)
    assert code == 4 and out == ""
    assert err.startswith(f"deepbrain: error: {model}: 1 problem(s): "
                          f"{model / 'conf' / 'mfcc.conf'}: ")
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    for engine in ("numpy", "auto"):
        code, _, err2 = run(capsys, "activations", speech_wav, "--model", model, "--out",
                            tmp_path / "out", "--engine", engine, "--resample")
        assert code == 4 and err2.splitlines()[-1] == err.strip()
    assert not (tmp_path / "out").exists()


def test_the_defaults_and_common_configs_pass():
    MfccOptions()
    MfccOptions(sample_frequency=8000, num_mel_bins=23, high_freq=3700, low_freq=20)
    MfccOptions(sample_frequency=16000, num_mel_bins=40, num_ceps=40, high_freq=-400)
    MfccOptions(sample_frequency=44100, round_to_power_of_two=False, frame_length=25)
    MfccOptions(num_mel_bins=126)


KNF_UNCHECKED = r"""
import dataclasses, json, sys
import numpy as np
from deepbrain.audio import Audio
from deepbrain.features import compute_mfcc_feats
from deepbrain.options import MfccOptions
changes = json.loads(sys.argv[1])
o = object.__new__(MfccOptions)  # without its checks: what they would refuse
for f in dataclasses.fields(MfccOptions):
    object.__setattr__(o, f.name, changes.get(f.name, f.default))
samples = np.random.default_rng(0).normal(0, 1000, 4000).astype(np.float32)
try:
    compute_mfcc_feats(Audio(samples, int(o.sample_frequency), "x.wav"), o)
except Exception:
    sys.exit(1)
"""


OPTIONS = st.fixed_dictionaries({}, optional={
    "sample_frequency": st.sampled_from([0.0, 100.0, 4000.0, 8000.0, 16000.0, 22050.0,
                                         16000.5, -16000.0]),
    "frame_length": st.one_of(st.floats(-1, 80), st.sampled_from([0.01, 0.025, 25.0625])),
    "frame_shift": st.one_of(st.floats(-1, 40), st.just(0.01)),
    "preemphasis_coefficient": st.floats(-0.5, 1.5),
    "round_to_power_of_two": st.booleans(),
    "snip_edges": st.booleans(),
    "num_mel_bins": st.integers(0, 300),
    "num_ceps": st.integers(0, 30),
    "low_freq": st.floats(-100, 9000),
    "high_freq": st.floats(-9000, 9000),
    "window_type": st.sampled_from(["povey", "hamming", "hanning", "rectangular", "sine",
                                    "blackman"]),
    "use_energy": st.booleans(),
    "htk_compat": st.booleans(),
    "cepstral_lifter": st.floats(-30, 30),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPTIONS)
def test_options_that_pass_the_checks_compute_and_those_refused_crash_knf(changes):
    """The checks are exactly tight enough: whatever passes computes without a crash, and
    what is refused for a frame, FFT or mel-bin reason kaldi-native-fbank refuses too."""
    rng = np.random.default_rng(0)
    try:
        opts = MfccOptions(**changes)
    except ValueError as refused:
        reason = str(refused)
        if any(k in reason for k in ("mel bins", "odd FFT", "low < high", "0..1", "at least")):
            # kaldi-native-fbank given such options raises, or at times crashes outright
            # (SIGSEGV): it runs in a process of its own, which must not compute them.
            r = subprocess.run([sys.executable, "-c", KNF_UNCHECKED, json.dumps(changes)],
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(ROOT / "app")})
            assert r.returncode != 0, f"kaldi-native-fbank computed refused options {changes}"
        return
    audio = Audio(rng.normal(0, 1000, int(opts.sample_frequency) // 4).astype(np.float32),
                  int(opts.sample_frequency), "x.wav")
    try:
        feats = compute_mfcc_feats(audio, opts)
    except AudioError as e:  # shorter than one frame: a clean error, not a crash
        assert "shorter than one" in str(e)
        return
    assert feats.shape[1] == opts.num_ceps and feats.shape[0] == opts.num_frames(
        audio.samples.shape[0])
