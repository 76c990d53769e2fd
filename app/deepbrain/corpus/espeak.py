"""libespeak-ng through ctypes: audio plus the sample position of every phoneme.

The C API's ``espeakEVENT_PHONEME`` events are queued with the synthesis commands, so
``event.sample`` is the exact output sample (22050 Hz) where the phoneme's audio starts;
each ``espeak_Synth`` call counts from 0.

Three facts from the feasibility probe shape this module:

* **State carry-over.** The library keeps state between calls (wavegen pitch phase, echo
  buffer, libc ``rand()`` for noise) and ``espeak_Terminate`` + ``espeak_Initialize`` hangs.
  So :func:`engine` initialises once per process and loads en-us, and the caller runs every
  utterance in a fresh ``os.fork()`` (see :mod:`.workers`) where :meth:`Espeak.synthesize`
  seeds ``srand`` first: the output is then byte-identical whatever the order or number of
  workers. The parent must never synthesise.
* **Echo.** Some variants (f2…f5, m2, named ones) carry an ``echo`` line that fills pauses
  with a delayed copy, hiding the digital-zero silences the labels rely on. The engine runs
  on a private data dir: symlinks to the system data plus copies of every variant with its
  ``echo`` lines removed.
* **Unknown variants are silently ignored** by ``espeak_SetVoiceByName``, so
  :func:`check_variants` checks names against ``voices/!v`` first.

Audio differs between espeak-ng builds: pin the build (Debian 1.51+dfsg-10+deb12u2) and
record :attr:`Espeak.version` with a corpus.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import INSTALL_ESPEAK, EspeakError

SAMPLE_RATE = 22050
LIBRARY = "libespeak-ng.so.1"

# The default en-us voice plus 54 speech-like variants (files in espeak-ng-data/voices/!v).
# Left out: whisper, croak, robots, Demonic, fast and others with odd or broken settings.
VARIANTS: tuple[str, ...] = (
    "default", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Andrea", "Andy",
    "Annie", "Denis", "Gene", "Lee", "Mario", "Michael", "Mike", "Nguyen", "adam", "antonio",
    "aunty", "belinda", "benjamin", "boris", "david", "ed", "edward", "edward2", "gustave",
    "iven", "iven2", "linda", "marcelo", "max", "paul", "pedro", "quincy", "rob", "robert",
    "sandro", "steph", "travis",
)

RATE_RANGE = (130, 240)   # words per minute; events go wrong above ~450 (espeak-ng PR #2470)
PITCH_RANGE = (25, 75)    # 0..99, default 50
RANGE_RANGE = (20, 80)    # pitch range 0..99, default 50

# espeak_lib.h constants
_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_DONT_EXIT = 0x0001, 0x8000
_RATE, _PITCH, _RANGE = 1, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8, _ENDPAUSE = 1, 0x1000
_EV_LIST_TERMINATED, _EV_PHONEME = 0, 7


class _Event(ctypes.Structure):
    """espeak_EVENT (40 bytes on 64-bit): the ``id`` union read as ``char string[8]``."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """One utterance's voice: a variant of en-us and its prosody, plus the ``srand`` seed."""

    variant: str
    rate: int
    pitch: int
    range: int
    seed: int

    @property
    def name(self) -> str:
        """The name ``espeak_SetVoiceByName`` takes (``en-us`` or ``en-us+m3``)."""
        return "en-us" if self.variant == "default" else f"en-us+{self.variant}"


@dataclass(frozen=True, eq=False)
class Synthesis:
    """22050 Hz int16 samples and the phoneme events as (mnemonic, start sample)."""

    samples: np.ndarray
    events: tuple[tuple[str, int], ...]


def load_library() -> ctypes.CDLL:
    """The espeak-ng shared library, or an error naming the apt packages."""
    try:
        return ctypes.CDLL(LIBRARY)
    except OSError:
        raise EspeakError(f"{LIBRARY} not found; {INSTALL_ESPEAK}") from None


def _library_path() -> Path | None:
    """Where the loaded libespeak-ng lives (from /proc/self/maps), to find its data beside it."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    for line in maps:
        if "libespeak-ng" in line and "/" in line:
            return Path(line[line.index("/"):].strip())
    return None


def system_data_dir() -> Path:
    """The system's ``espeak-ng-data`` (``ESPEAK_DATA_PATH`` first, as espeak-ng does)."""
    candidates = []
    if os.environ.get("ESPEAK_DATA_PATH"):
        env = Path(os.environ["ESPEAK_DATA_PATH"])
        candidates += [env / "espeak-ng-data", env]
    lib = _library_path()
    if lib is not None:
        candidates.append(lib.parent / "espeak-ng-data")
    candidates += [Path("/usr/share/espeak-ng-data"), Path("/usr/local/share/espeak-ng-data")]
    for c in candidates:
        if (c / "phontab").is_file() and (c / "voices" / "!v").is_dir():
            return c
    raise EspeakError(f"espeak-ng-data not found (looked in {', '.join(map(str, candidates))}); "
                      f"{INSTALL_ESPEAK}")


def build_echo_free_data_dir(system: Path, dest: Path) -> Path:
    """``dest/espeak-ng-data``: symlinks to ``system`` except ``voices/!v``, whose variant
    files are copied without their ``echo`` lines. Returns the ``espeak-ng-data`` path."""
    data = dest / "espeak-ng-data"
    (data / "voices" / "!v").mkdir(parents=True)
    for entry in system.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    for entry in (system / "voices").iterdir():
        if entry.name != "!v":
            (data / "voices" / entry.name).symlink_to(entry)
    for variant in (system / "voices" / "!v").iterdir():
        if variant.is_file():
            lines = variant.read_bytes().splitlines(keepends=True)
            kept = [ln for ln in lines if not ln.lstrip().lower().startswith(b"echo")]
            (data / "voices" / "!v" / variant.name).write_bytes(b"".join(kept))
    return data


def check_variants(names, data_dir: Path) -> None:
    """Raise if a variant has no file in ``voices/!v`` (espeak would silently ignore it)."""
    missing = sorted({n for n in names
                      if n != "default" and not (data_dir / "voices" / "!v" / n).is_file()})
    if missing:
        raise EspeakError(f"unknown espeak-ng voice variant(s) {', '.join(missing)}: no such "
                          f"file in {data_dir / 'voices' / '!v'}; choose from "
                          f"deepbrain.corpus.espeak.VARIANTS")


class Espeak:
    """The process's one initialised libespeak-ng (use :func:`engine`)."""

    def __init__(self, data_dir: Path):
        self.lib = load_library()
        self.data_dir = data_dir
        self._libc = ctypes.CDLL(None)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _Callback(self._collect)  # kept: ctypes must not free it
        self._declare()
        path = str(data_dir.parent).encode()
        if self.lib.espeak_Initialize(_SYNCHRONOUS, 0, path,
                                      _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT) != SAMPLE_RATE:
            raise EspeakError(f"espeak_Initialize failed with data {data_dir}; "
                              f"reinstall: {INSTALL_ESPEAK}")
        self.lib.espeak_SetSynthCallback(self._callback)
        self.version = self.lib.espeak_Info(None).decode()
        lib_path = _library_path()
        self.library_file = str(lib_path.resolve()) if lib_path else LIBRARY
        self._set_voice("en-us")  # loads the en-us dictionary once, before any fork

    def _declare(self) -> None:
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p

    def _collect(self, wav, n: int, events) -> int:
        """t_espeak_callback: copy the audio chunk and the PHONEME events' start samples."""
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            if events[i].type == _EV_PHONEME:
                self._events.append((events[i].id.decode("ascii", "replace"),
                                     events[i].sample))
            i += 1
        return 0

    def _set_voice(self, name: str) -> None:
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {name!r} in {self.data_dir}; "
                              f"{INSTALL_ESPEAK}")

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        """Speak ``text`` with ``voice``. Call in a fresh fork only (see module doc)."""
        self._libc.srand(ctypes.c_uint(voice.seed))
        self._set_voice(voice.name)
        for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.range)):
            self.lib.espeak_SetParameter(param, value, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0,
                                    _CHARS_UTF8 | _ENDPAUSE, None, None)
        self.lib.espeak_Synchronize()
        if err != 0:
            raise EspeakError(f"espeak_Synth failed (error {err}) on {text!r}")
        samples = (np.concatenate(self._chunks) if self._chunks
                   else np.zeros(0, dtype=np.int16)).astype(np.int16)
        return Synthesis(samples, tuple(self._events))


_ENGINE: Espeak | None = None


def engine() -> Espeak:
    """The process's initialised engine, made on first use with an echo-free private data
    dir (a temporary folder removed when the process that made it exits)."""
    global _ENGINE
    if _ENGINE is None:
        load_library()  # first, so that system_data_dir can look beside it
        system = system_data_dir()
        tmp = Path(tempfile.mkdtemp(prefix="deepbrain-espeak-"))
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(tmp, ignore_errors=True))
        _ENGINE = Espeak(build_echo_free_data_dir(system, tmp))
    return _ENGINE
