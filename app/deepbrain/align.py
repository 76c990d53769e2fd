"""Phone labels for real recordings: forced alignment with pocketsphinx, no Kaldi needed.

PyPI ``pocketsphinx`` (>= 5, the ``align`` extra) ships an en-us acoustic model trained on
real speech and the CMU pronouncing dictionary. Aligning is two passes over the audio:
``set_align_text`` and a pass find the words (with optional silences between them), then
``set_alignment`` and a second pass give every phone's frames (10 ms). ARPAbet is folded to
TIMIT-39 (``AO``→``aa``, ``ZH``→``sh``, ``SIL``→``sil``), the phone set of the demo model,
and the result covers the whole utterance in the frames a Kaldi front end makes of it
(25 ms windows every 10 ms, snip-edges): what ``build-map --labels`` and ``evaluate`` need.

Qt-free; the window's phone lane calls :func:`align_audio` from a worker thread (one
decoder per process, used under a lock: loading the model takes about a second).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .audio import Audio, resample
from .errors import DeepbrainError, FormatError
from .segments import PhoneSegment

INSTALL = "pip install 'deepbrain[align]'"
SAMPLE_RATE = 16000       # pocketsphinx's en-us model
FRAME_SHIFT = 0.010
MIN_SECONDS = 0.1
MAX_WORDS_PER_SECOND = 8  # nobody says more; a longer text is the wrong transcript
MAX_SECONDS = 600.0       # one utterance; a longer recording should be cut first
DITHER = 3.0              # standard deviation of the dither, 16-bit steps
_WORD = re.compile(r"[a-z0-9']+(?:[.'][a-z0-9']+)*")


class AlignError(DeepbrainError):
    """A recording and text that cannot be aligned (or no aligner installed)."""

    exit_code = 10


def why_unavailable() -> str | None:
    """Why :func:`align_audio` cannot run here (pocketsphinx missing or too old), or None."""
    try:
        import pocketsphinx
    except ImportError:
        return f"pocketsphinx is not installed: {INSTALL}"
    try:
        from pocketsphinx import Decoder, get_model_path  # noqa: F401  (>= 5 has both)
    except ImportError:
        return f"pocketsphinx {getattr(pocketsphinx, '__version__', '?')} is older than 5: " \
               f"{INSTALL}"
    model = Path(get_model_path()) / "en-us"
    if not (model / "cmudict-en-us.dict").is_file():
        return f"pocketsphinx has no en-us model at {model}: reinstall it, {INSTALL}"
    return None


class _Aligner:
    """One pocketsphinx decoder (en-us model and dictionary), made on first use."""

    def __init__(self):
        reason = why_unavailable()
        if reason:
            raise AlignError(reason)
        from pocketsphinx import Decoder

        # bestpath off, as pocketsphinx's own aligner runs: its lattice pass can end the
        # words with a one-frame </s> that the second (phone) pass then fails to reach
        # ("Failed to reach final state in alignment", pocketsphinx issue 339)
        self.decoder = Decoder(loglevel="FATAL", samprate=SAMPLE_RATE, bestpath=False)
        self.lock = threading.Lock()

    def missing(self, words: Sequence[str]) -> list[str]:
        return sorted({w for w in words if self.decoder.lookup_word(w) is None})

    def phones(self, samples: np.ndarray, words: Sequence[str]
               ) -> list[tuple[str, int, int]] | None:
        """(ARPAbet phone, first frame, frames) in time order, or None if it failed.

        The audio is dithered first (Gaussian, 3 LSB, seeded: the same input gives the same
        alignment), as Kaldi's front end does: on digital silence (exact zeros, as in
        synthetic speech) pocketsphinx's features degenerate and it aligns nothing, or
        the second pass fails. An alignment counts only when it holds every word in order;
        a failed one is tried again with another dither seed.
        """
        for seed in range(3):
            found = self._two_passes(_dithered_pcm(samples, seed), words)
            if found is not None:
                return found
        return None

    def _two_passes(self, pcm: bytes, words: Sequence[str]
                    ) -> list[tuple[str, int, int]] | None:
        d = self.decoder
        with self.lock:
            try:
                d.set_align_text(" ".join(words))
                for second in (False, True):
                    if second:
                        d.set_alignment()
                    # the front end afresh for each pass: its noise estimate (remove_noise)
                    # and live CMN otherwise carry over from the audio before, and an
                    # alignment would depend on what was aligned earlier in the process
                    d.reinit_feat()
                    d.start_utt()
                    d.process_raw(pcm, full_utt=True)
                    d.end_utt()
                    if second:
                        break  # (hyp() in the phone-alignment search crashes pocketsphinx)
                    hyp = d.hyp()
                    if hyp is None or hyp.hypstr.split() != list(words):
                        return None
                alignment = d.get_alignment()
            except RuntimeError:
                return None
            if alignment is None:
                return None
            said = [w.name for w in alignment.words() if not w.name.startswith(("<", "["))]
            if [re.sub(r"\(\d+\)$", "", w) for w in said] != list(words):
                return None
            return [(p.name, int(p.start), int(p.duration)) for p in alignment.phones()]


def _dithered_pcm(samples: np.ndarray, seed: int) -> bytes:
    """16-bit little-endian PCM of ``samples`` (int16 scale) with seeded Gaussian dither of
    :data:`DITHER` steps, as pocketsphinx gets it (it degenerates on digital silence)."""
    noise = np.random.default_rng(seed).standard_normal(samples.size) * DITHER
    return np.clip(np.rint(samples + noise), -32768, 32767).astype("<i2").tobytes()


_ALIGNER: _Aligner | None = None
_ALIGNER_LOCK = threading.Lock()


def _aligner() -> _Aligner:
    global _ALIGNER
    with _ALIGNER_LOCK:
        if _ALIGNER is None:
            _ALIGNER = _Aligner()
        return _ALIGNER


def missing_words(words: Sequence[str]) -> list[str]:
    """The words the pronouncing dictionary lacks, sorted (the process's one decoder is made
    on first use: call this before forking to share it)."""
    return _aligner().missing(words)


def words_of(text: str) -> list[str]:
    """The words of a transcript as the dictionary spells them: lower case, punctuation
    dropped, hyphenated words split (``"Don't stop-watch!"`` → ``don't stop watch``)."""
    return _WORD.findall(text.lower().replace("-", " ").replace("\u2019", "'"))


def num_frames(num_samples: int, sample_rate: int) -> int:
    """Kaldi's frame count (25 ms windows every 10 ms, snip-edges)."""
    length, shift = int(0.025 * sample_rate), int(FRAME_SHIFT * sample_rate)
    return 0 if num_samples < length else 1 + (num_samples - length) // shift


def align_audio(audio: Audio, text: str, utt_id: str = "") -> list[PhoneSegment]:
    """The phones said in ``audio`` (TIMIT-39 plus ``sil``, frames of 10 ms, in time order,
    covering every frame of the utterance), by forced alignment of ``text``.

    Raises :class:`AlignError` naming the utterance (``utt_id``, else the audio's source)
    and the fix: pocketsphinx missing, no or too many words, words not in the dictionary,
    unusable audio, or an alignment that fails (the text is not what is said).
    """
    from .corpus.phones import arpabet_to_timit

    name = utt_id or audio.source or "the audio"
    seconds = _check_audio(audio, name)
    words = words_of(text)
    if not words:
        raise AlignError(f"{name}: the transcript has no words to align; give the words "
                         f"that are said")
    if len(words) > max(10, MAX_WORDS_PER_SECOND * seconds):
        raise AlignError(f"{name}: the transcript has {len(words)} words for {seconds:.1f} s "
                         f"of audio, more than anyone says; check that it belongs to this "
                         f"recording")
    aligner = _aligner()
    missing = aligner.missing(words)
    if missing:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more"
                                          if len(missing) > 12 else "")
        raise AlignError(f"{name}: word(s) not in the pronouncing dictionary: {shown}; "
                         f"respell them as dictionary words (numbers as words) or leave "
                         f"them out of the text")
    n_frames = num_frames(np.asarray(audio.samples).size, audio.sample_rate)
    if audio.sample_rate != SAMPLE_RATE:
        audio = resample(audio, SAMPLE_RATE)
    phones = aligner.phones(np.asarray(audio.samples, dtype=np.float64), words)
    if not phones:
        raise AlignError(f"{name}: the words could not be aligned to the audio; check that "
                         f"the transcript is what is said (and the audio is speech)")
    segments = []
    for arpa, start, length in phones:
        label = arpabet_to_timit(arpa)
        if label is None:
            raise AlignError(f"{name}: pocketsphinx gave phone {arpa!r}, which the TIMIT-39 "
                             f"map does not know (deepbrain.corpus.phones.ARPABET_TO_TIMIT)")
        segments.append(PhoneSegment(label, start, start + max(length, 1)))
    return _cover(segments, n_frames)


def _check_audio(audio: Audio, name: str) -> float:
    """The audio's length in seconds; AlignError unless it is mono, finite, 0.1-600 s."""
    samples = np.asarray(audio.samples)
    if samples.ndim != 1 or samples.size == 0:
        raise AlignError(f"{name}: no samples to align; record or choose another file")
    if not np.all(np.isfinite(samples)):
        raise AlignError(f"{name}: the audio holds NaN or infinite samples; re-export it")
    seconds = samples.size / audio.sample_rate
    if seconds < MIN_SECONDS:
        raise AlignError(f"{name}: {seconds:.3f} s of audio is too short to align (at least "
                         f"{MIN_SECONDS} s)")
    if seconds > MAX_SECONDS:
        raise AlignError(f"{name}: {seconds:.0f} s is too long for one alignment (at most "
                         f"{MAX_SECONDS:.0f} s); cut it into utterances (sox ... trim)")
    return seconds


_LOOP = None
_LOOP_LOCK = threading.Lock()


def recognise_phones(audio: Audio, utt_id: str = "") -> list[PhoneSegment]:
    """The phones pocketsphinx hears in ``audio`` without a transcript: its en-us model
    decoding a phone loop with its phone bigram (``allphone``, pocketsphinx's defaults),
    folded to TIMIT-39 and covering every frame as :func:`align_audio`'s output does.

    A yardstick, not a labeller: how often a model trained on real speech, with a phone
    grammar, names the phone the alignment (which knew the words) puts on a frame.
    """
    global _LOOP
    from .corpus.phones import arpabet_to_timit

    name = utt_id or audio.source or "the audio"
    _check_audio(audio, name)
    n_frames = num_frames(np.asarray(audio.samples).size, audio.sample_rate)
    if audio.sample_rate != SAMPLE_RATE:
        audio = resample(audio, SAMPLE_RATE)
    pcm = _dithered_pcm(np.asarray(audio.samples, dtype=np.float64), seed=0)
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = _phone_loop()
        _LOOP.reinit_feat()   # as the aligner: nothing carries over from the audio before
        _LOOP.start_utt()
        _LOOP.process_raw(pcm, full_utt=True)
        _LOOP.end_utt()
        found = [(s.word, int(s.start_frame), int(s.end_frame) + 1) for s in _LOOP.seg()]
    segments = []
    for arpa, start, end in found:
        label = "sil" if arpa.startswith(("+", "<")) else arpabet_to_timit(arpa)
        if label is None:
            raise AlignError(f"{name}: pocketsphinx heard phone {arpa!r}, which the TIMIT-39 "
                             f"map does not know (deepbrain.corpus.phones.ARPABET_TO_TIMIT)")
        segments.append(PhoneSegment(label, start, end))
    return _cover(segments, n_frames)


def _phone_loop():
    """A pocketsphinx decoder of phones (``allphone``: the en-us model with its phone
    bigram), pocketsphinx's default settings otherwise."""
    reason = why_unavailable()
    if reason:
        raise AlignError(reason)
    from pocketsphinx import Decoder, get_model_path

    lm = Path(get_model_path()) / "en-us" / "en-us-phone.lm.bin"
    if not lm.is_file():
        raise AlignError(f"pocketsphinx has no phone bigram at {lm}: reinstall it, {INSTALL}")
    return Decoder(allphone=str(lm), loglevel="FATAL", samprate=SAMPLE_RATE)


def _cover(segments: list[PhoneSegment], n: int) -> list[PhoneSegment]:
    """Segments cut to frames [0, n), gaps and the ends filled with sil, neighbouring sil
    merged: every frame covered exactly once."""
    out: list[PhoneSegment] = []

    def add(phone: str, start: int, end: int) -> None:
        if end <= start:
            return
        if out and out[-1].phone == "sil" and phone == "sil" and out[-1].end == start:
            out[-1] = PhoneSegment("sil", out[-1].start, end)
        else:
            out.append(PhoneSegment(phone, start, end))

    pos = 0
    for seg in sorted(segments, key=lambda s: s.start):
        start, end = max(seg.start, pos), min(seg.end, n)
        add("sil", pos, start)
        add(seg.phone, start, end)
        pos = max(pos, end)
    if out and pos < n and out[-1].phone != "sil":
        last = out[-1]  # pocketsphinx counts frames to the last sample; Kaldi snips the edge
        if n - pos <= 2:
            out[-1] = PhoneSegment(last.phone, last.start, n)
            pos = n
    add("sil", pos, n)
    return out


def read_transcripts(path: str | os.PathLike) -> dict[str, str]:
    """A Kaldi ``text`` file (``utt-id word word ...`` per line) as utt_id -> text."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such transcripts file; give a Kaldi 'text' file "
                          f"(utt-id words...)") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror})") from None
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise FormatError(f"{path}: line {line} is not UTF-8 text; save the transcripts as "
                          f"UTF-8") from None
    out: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        utt, _, words = line.strip().partition(" ")
        if utt in out:
            raise FormatError(f"{path}: line {n}: utterance {utt!r} appears twice")
        out[utt] = words.strip()
    if not out:
        raise FormatError(f"{path}: no transcripts; expected lines 'utt-id words...'")
    return out


def write_alignments(out_dir: Path, segments: Mapping[str, Sequence[PhoneSegment]]) -> None:
    """``phones.ctm`` (as ``ali-to-phones --ctm-output``), ``phones.ark`` + ``phones.scp``
    (int32 phone ids per frame, as ``ali-to-phones --per-frame=true``) and ``phones.txt``
    into ``out_dir`` (existing)."""
    import kaldiio

    from .corpus.phones import PHONE_IDS, phones_txt
    from .segments import frames_from_segments, write_ctm

    out_dir = Path(out_dir).absolute()  # the scp names the ark by its full path
    write_ctm(out_dir / "phones.ctm", segments, FRAME_SHIFT)
    table = {utt: frames_from_segments(segs, PHONE_IDS, segs[-1].end if segs else 0)
             for utt, segs in sorted(segments.items())}
    kaldiio.save_ark(str(out_dir / "phones.ark"), table, scp=str(out_dir / "phones.scp"))
    (out_dir / "phones.txt").write_text(phones_txt(), encoding="ascii")
