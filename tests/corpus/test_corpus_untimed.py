"""Voices without timings (RHVoice, Pico: Debian non-free) and the aligner labels of the
many-voiced corpus; Festival's British voice and its MRPA phones."""

from __future__ import annotations

import numpy as np
import pytest

from support import wav_bytes

from deepbrain.corpus import festival, untimed
from deepbrain.corpus.errors import CorpusError
from deepbrain.corpus.phones import MRPA_TO_ARPABET, PHONES, arpabet_to_timit
from deepbrain.corpus.voices import SHARES, UNTIMED, aligned_timeline, plan_corpus

RATE = 16000


def test_every_mrpa_phone_folds_into_timit():
    for mrpa, arpa in MRPA_TO_ARPABET.items():
        assert arpabet_to_timit(arpa) in PHONES, mrpa
    # MRPA "uh" is the vowel of "cup", not ARPAbet's "book" vowel
    assert arpabet_to_timit(MRPA_TO_ARPABET["uh"]) == "ah"
    assert arpabet_to_timit(MRPA_TO_ARPABET["u"]) == "uh"
    assert arpabet_to_timit(MRPA_TO_ARPABET["#"]) == "sil"


def test_the_british_festival_voice_speaks_with_mapped_timings(tmp_path):
    if "rab_diphone" not in festival.available_voices():
        pytest.skip(f"Festival's rab_diphone is not installed: {festival.INSTALL}")
    out = festival.synthesize([festival.FestivalJob("u", "rab_diphone", "The cup of tea.")],
                              tmp_path)
    labels = [p for p in out["u"].timeline.labels if p != "sil"]
    assert labels == "dh ah k ah p aa v t iy".split()  # British "of": the lot vowel


def test_pico_text_drops_markup_characters():
    text = untimed.pico_text("a <pitch level='500'>b</pitch> & c", 90, 110)
    assert text == ("<speed level='90'><pitch level='110'>a pitch level='500' b /pitch c"
                    "</pitch></speed>")


def test_untimed_jobs_are_checked_before_any_program_runs():
    with pytest.raises(CorpusError, match="unknown untimed engine"):
        untimed.voices("say")
    with pytest.raises(CorpusError, match="not installed|non-free"):
        untimed.synthesize(untimed.UntimedJob("u", "rhvoice", "nobody; rm -rf /", "hi"))
    voice = next(iter(untimed.voices("rhvoice") + untimed.voices("pico")), None)
    if voice is None:
        pytest.skip(f"neither RHVoice nor Pico is installed: {untimed.INSTALL}")
    engine = "rhvoice" if voice in untimed.RHVOICE_VOICES else "pico"
    with pytest.raises(CorpusError, match="50..200"):
        untimed.synthesize(untimed.UntimedJob("u", engine, voice, "hi", rate=1000))


@pytest.mark.parametrize("engine", ["rhvoice", "pico"])
def test_untimed_voices_speak_hostile_text_as_words(engine):
    voices = untimed.voices(engine)
    if not voices:
        pytest.skip(f"{engine} is not installed: {untimed.INSTALL}")
    # shell syntax, markup, an option-like start and quotes are only words to speak
    text = "-w /tmp/x $(touch pwned) <speed level='1'> \"quoted\" & 'single'; done"
    for voice in voices:
        x, rate = untimed.synthesize(untimed.UntimedJob("u", engine, voice, text, 110, 90))
        assert rate in (16000, 22050, 24000) and x.size > rate  # over a second of speech
        assert np.all(np.isfinite(x)) and np.abs(x).max() <= 32768


def test_aligner_labels_give_back_the_aligners_frames(needs_espeak):
    pytest.importorskip("pocketsphinx")
    from deepbrain import align
    from deepbrain.audio import Audio
    from deepbrain.corpus import espeak

    syn = espeak.engine().synthesize("The cat sat on the mat.",
                                     espeak.Voice("m2", 160, 50, 50, 3))
    from scipy.signal import resample_poly

    x = resample_poly(syn.samples.astype(np.float64), 320, 441)
    t = aligned_timeline(x, "The cat sat on the mat.", "u")
    segs = align.align_audio(Audio(x.astype(np.float32), RATE, "u", as_on_disk=False),
                             "The cat sat on the mat.")
    n = align.num_frames(x.size, RATE)
    want = np.concatenate([[PHONES.index(s.phone)] * (s.end - s.start) for s in segs])
    assert np.array_equal(t.frame_ids(n), want)
    assert t.duration == pytest.approx(x.size / RATE)
    assert aligned_timeline(x, "Completely different words here.", "u") is None
    assert aligned_timeline(np.zeros(3), "cat", "u") is None


def test_untimed_sources_only_get_text_the_aligner_knows(tmp_path):
    sentences = [f"sentence {i} with zzqx" if i % 2 else f"plain words {i}"
                 for i in range(400)]
    specs = plan_corpus(400, 5, sentences, tmp_path, ("kal_diphone",),
                        untimed_voices={"rhvoice": ("bdl",), "pico": ("en-GB",)},
                        words=("cat", "dog", "tree"),
                        speakable=lambda text: "zzqx" not in text)
    train = [s for s in specs if s.split == "train"]
    assert {s.source for s in train} == set(SHARES)
    for s in train:
        if s.source in UNTIMED:
            assert "zzqx" not in s.text
    short = [s for s in train if set(s.text.split()) <= {"cat", "dog", "tree"}]
    assert 0.15 < len(short) / len(train) < 0.35
    assert all(1 <= len(s.text.split()) <= 3 for s in short)
    # without the aligner: no untimed source, every text a sentence
    plain = plan_corpus(400, 5, sentences, tmp_path, ("kal_diphone",))
    assert not {s.source for s in plain} & set(UNTIMED)
    assert [s.text for s in plain] == sentences


FAKE = {
    "fails": "echo 'voice data is damaged' >&2; exit 3",
    "killed": "kill -9 $$",
    "truncated": "cp \"$0.truncated\" \"$out\"",
    "empty": "cp \"$0.empty\" \"$out\"",
    "hangs": "sleep 30",
}
WANT = {"fails": "exit 3: voice data is damaged", "killed": "exit -9",
        "truncated": "unreadable", "empty": "no samples", "hangs": "more than 1 s"}


@pytest.mark.parametrize("case", sorted(FAKE))
def test_a_broken_tts_program_gives_one_clean_error(case, tmp_path, monkeypatch):
    """RHVoice-test failing, killed by a signal, writing a cut or empty wav, or hanging:
    a CorpusError naming the utterance and the program, never a traceback or a hang."""
    prog = tmp_path / "RHVoice-test"
    prog.write_text("#!/bin/sh\nout=\"\"\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && out=$2; "
                    f"shift; done\ncat >/dev/null\n{FAKE[case]}\n")
    prog.chmod(0o755)
    (tmp_path / "RHVoice-test.empty").write_bytes(wav_bytes(np.zeros(0, np.int16), 24000))
    (tmp_path / "RHVoice-test.truncated").write_bytes(
        wav_bytes(np.ones(800, np.int16), 24000)[:30])
    (tmp_path / "voices" / "bdl").mkdir(parents=True)
    monkeypatch.setattr(untimed, "RHVOICE", str(prog))
    monkeypatch.setattr(untimed, "RHVOICE_DATA", tmp_path / "voices")
    monkeypatch.setattr(untimed, "TIMEOUT_S", 1)
    with pytest.raises(CorpusError) as e:
        untimed.synthesize(untimed.UntimedJob("utt-7", "rhvoice", "bdl", "hello there"))
    msg = str(e.value)
    assert "\n" not in msg and "utt-7" in msg and WANT[case] in msg, msg


def test_an_unknown_mrpa_phone_is_named(tmp_path, monkeypatch):
    """A British voice's segment outside the MRPA map: one CorpusError naming the phone and
    the table to extend, not a KeyError or a silent wrong label."""
    work = tmp_path / "work"
    (tmp_path / "u.wav").write_bytes(wav_bytes(np.zeros(1600, np.int16)))
    prog = tmp_path / "festival"
    prog.write_text(f"#!/bin/sh\nd=$(dirname \"$2\")\ncp \"{tmp_path}/u.wav\" \"$d/u.wav\"\n"
                    "printf '#\\n0.05 100 #\\n0.08 100 qq\\n0.1 100 #\\n' > \"$d/u.segs\"\n")
    prog.chmod(0o755)
    monkeypatch.setattr(festival, "PROGRAM", str(prog))
    with pytest.raises(CorpusError,
                       match=r"rab_diphone produced MRPA phone\(s\) 'qq'.*MRPA_TO_ARPABET"):
        festival.synthesize([festival.FestivalJob("u", "rab_diphone", "hi")], work)
