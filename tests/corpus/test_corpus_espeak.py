"""The libespeak-ng wrapper: echo-free data dir, variant checks, errors, forked synthesis."""

import numpy as np
import pytest

from deepbrain.corpus import espeak
from deepbrain.corpus.errors import EspeakError
from deepbrain.corpus.workers import fork_map
from deepbrain.errors import DeepbrainError


def test_a_missing_library_names_the_apt_packages(monkeypatch):
    monkeypatch.setattr(espeak, "LIBRARY", "libespeak-ng-not-here.so.9")
    with pytest.raises(EspeakError, match="apt-get install espeak-ng libespeak-ng1"):
        espeak.load_library()


def test_echo_free_data_dir_drops_only_echo_lines(tmp_path):
    system = tmp_path / "sys"
    (system / "voices" / "!v").mkdir(parents=True)
    (system / "voices" / "gmw").mkdir()
    (system / "phontab").write_bytes(b"x")
    (system / "voices" / "!v" / "f4").write_text("name f4\n echo 130 15\npitch 142 200\n")
    data = espeak.build_echo_free_data_dir(system, tmp_path / "priv")
    assert (data / "voices" / "!v" / "f4").read_text() == "name f4\npitch 142 200\n"
    assert (data / "phontab").is_symlink() and (data / "voices" / "gmw").is_symlink()
    espeak.check_variants(["default", "f4"], data)
    with pytest.raises(EspeakError, match="unknown espeak-ng voice variant"):
        espeak.check_variants(["f4", "nobody"], data)


def test_every_corpus_variant_exists(needs_espeak):
    espeak.check_variants(espeak.VARIANTS, espeak.engine().data_dir)


def _speak(voice: espeak.Voice):
    syn = espeak.engine().synthesize("Mind the gap.", voice)
    return syn.samples, syn.events


def test_echo_variants_end_in_digital_silence_and_repeat_exactly(needs_espeak):
    espeak.engine()
    voices = [espeak.Voice(v, 170, 50, 50, 11) for v in ("f4", "m2", "f4")]
    (a, ev_a), (b, _), (c, ev_c) = fork_map(_speak, voices, workers=2)
    assert a.dtype == np.int16 and np.array_equal(a, c) and ev_a == ev_c
    assert ev_a[0][0] != "_" and ev_a[-1][0] == "_"
    for x in (a, b):
        assert (x[-int(0.25 * espeak.SAMPLE_RATE):] == 0).all()  # no echo in the end pause


def _fail(job):
    if job == 1:
        raise EspeakError("bad job")
    if job == 2:
        raise ValueError("a bug")
    return job * 10


def test_worker_errors_come_back_to_the_caller():
    assert fork_map(_fail, [0, 3], workers=2) == [0, 30]
    with pytest.raises(EspeakError, match="bad job"):
        fork_map(_fail, [0, 1, 3], workers=2)
    with pytest.raises(DeepbrainError, match="ValueError: a bug"):
        fork_map(_fail, [2], workers=1)
