"""A reproducible, offline, phone-labelled English speech corpus made with espeak-ng.

``make_corpus(out_dir, num_utts, seed)`` writes Kaldi data dirs (train/ and test/ with
held-out voices) with per-frame TIMIT-39 phone labels; ``python -m deepbrain.corpus OUT
--utts N --seed S`` does the same from the shell. Needs the Debian packages ``espeak-ng
libespeak-ng1`` (the library and its data) and ``wordnet-base`` or ``wamerican`` (text).

espeak-ng is GPL-3.0+ and is loaded at run time through ctypes only by this subpackage; the
rest of deepbrain never imports it.
"""

from .errors import CorpusError, EspeakError
from .make import CorpusSummary, make_corpus
from .phones import PHONES

__all__ = ["CorpusError", "CorpusSummary", "EspeakError", "PHONES", "make_corpus",
           "why_unavailable"]


def why_unavailable() -> str | None:
    """Why no corpus can be made on this machine (no libespeak-ng, no sentence source), or
    None when it can."""
    from . import espeak, text

    try:
        espeak.load_library()
        espeak.system_data_dir()
    except EspeakError as e:
        return f"libespeak-ng is not usable: {e}"
    if not (text.WORDNET_DIR / "data.noun").is_file() and not text.WORDS_FILE.is_file():
        return "no sentence source: apt-get install wordnet-base (or wamerican)"
    return None
