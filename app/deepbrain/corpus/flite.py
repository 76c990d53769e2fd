"""Flite voices through libflite's C API (ctypes): audio plus the Segment relation's timings.

``flite_synth_text`` returns the whole utterance structure; its ``Segment`` relation holds
every phone with its ``end`` time (seconds) and ``utt_wave`` the audio. Flite keeps no state
between utterances that changes the audio, so one process can synthesise many; the corpus
still runs each utterance in its own fork (see :mod:`.workers`).

Voices (Debian ``flite``/``libflite1``, BSD-style licence): ``kal`` (8 kHz) and ``kal16``
(diphone, Kal), ``awb`` (Scottish English male), ``rms`` (American male) and ``slt``
(American female): clustergen statistical voices trained on the CMU ARCTIC recordings.
Prosody: the voice features ``duration_stretch``, ``int_f0_target_mean`` and
``int_f0_target_stddev``.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from .errors import CorpusError
from .festival import Spoken
from .timeline import Timeline, from_arpabet

LIBRARY = "libflite.so.1"
INSTALL = "apt-get install flite libflite1"
VOICES = ("kal16", "awb", "rms", "slt", "kal")


class _Wave(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("sample_rate", ctypes.c_int),
                ("num_samples", ctypes.c_int), ("num_channels", ctypes.c_int),
                ("samples", ctypes.POINTER(ctypes.c_short))]


class _Voice(ctypes.Structure):
    """The head of cst_voice: its name and feature list."""

    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


@dataclass(frozen=True)
class FliteJob:
    utt_id: str
    voice: str
    text: str
    stretch: float = 1.0
    f0_mean: float = 0.0   # Hz; 0 keeps the voice's own
    f0_std: float = 0.0


class Flite:
    """The process's libflite with its English voices registered (use :func:`engine`)."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL(LIBRARY)
            for dep in ("libflite_usenglish.so.1", "libflite_cmulex.so.1"):
                ctypes.CDLL(dep)
        except OSError:
            raise CorpusError(f"{LIBRARY} not found; {INSTALL}") from None
        self._declare()
        self.lib.flite_init()
        self.voices: dict[str, int] = {}

    def _declare(self) -> None:
        lib, vp, cp = self.lib, ctypes.c_void_p, ctypes.c_char_p
        lib.flite_synth_text.restype, lib.flite_synth_text.argtypes = vp, [cp, vp]
        lib.utt_wave.restype, lib.utt_wave.argtypes = ctypes.POINTER(_Wave), [vp]
        lib.utt_relation.restype, lib.utt_relation.argtypes = vp, [vp, cp]
        lib.relation_head.restype, lib.relation_head.argtypes = vp, [vp]
        lib.item_next.restype, lib.item_next.argtypes = vp, [vp]
        lib.item_feat_float.restype, lib.item_feat_float.argtypes = ctypes.c_float, [vp, cp]
        lib.item_feat_string.restype, lib.item_feat_string.argtypes = cp, [vp, cp]
        lib.feat_set_float.restype, lib.feat_set_float.argtypes = None, [vp, cp, ctypes.c_float]
        lib.delete_utterance.restype, lib.delete_utterance.argtypes = None, [vp]

    def voice(self, name: str) -> int:
        if name not in self.voices:
            if name not in VOICES:
                raise CorpusError(f"unknown Flite voice {name!r}; choose from "
                                  f"{', '.join(VOICES)}")
            try:
                lib = ctypes.CDLL(f"libflite_cmu_us_{name}.so.1")
            except OSError:
                raise CorpusError(f"Flite voice {name} not found; {INSTALL}") from None
            register = getattr(lib, f"register_cmu_us_{name}")
            register.restype, register.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
            self.voices[name] = register(None)
        return self.voices[name]

    def synthesize(self, job: FliteJob) -> Spoken:
        v = self.voice(job.voice)
        feats = ctypes.cast(v, ctypes.POINTER(_Voice)).contents.features
        self.lib.feat_set_float(feats, b"duration_stretch", job.stretch)
        if job.f0_mean > 0:
            self.lib.feat_set_float(feats, b"int_f0_target_mean", job.f0_mean)
            self.lib.feat_set_float(feats, b"int_f0_target_stddev", job.f0_std)
        utt = self.lib.flite_synth_text(job.text.encode("utf-8"), v)
        if not utt:
            raise CorpusError(f"flite could not synthesise {job.utt_id} ({job.text!r})")
        try:
            w = self.lib.utt_wave(utt).contents
            samples = np.ctypeslib.as_array(w.samples, (w.num_samples,)).astype(np.float64)
            names, ends = [], []
            item = self.lib.relation_head(self.lib.utt_relation(utt, b"Segment"))
            while item:
                names.append(self.lib.item_feat_string(item, b"name").decode())
                ends.append(float(self.lib.item_feat_float(item, b"end")))
                item = self.lib.item_next(item)
            rate = int(w.sample_rate)
        finally:
            self.lib.delete_utterance(utt)
        if not names or samples.size == 0:
            raise CorpusError(f"flite gave no audio or segments for {job.utt_id}")
        t = from_arpabet(names, ends, f"flite voice {job.voice}")
        duration = samples.size / rate
        ends_ = np.minimum(t.ends, duration)
        ends_[-1] = duration
        return Spoken(samples, rate, Timeline(t.labels, ends_))


_ENGINE: Flite | None = None


def engine() -> Flite:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Flite()
    return _ENGINE


def available() -> bool:
    try:
        engine()
        return True
    except CorpusError:
        return False
