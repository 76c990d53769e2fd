"""The Kaldi engine: real Kaldi binaries through ``kaldi_recipes/getact.sh``.

Python builds a Kaldi-shaped data dir (``data/wav.scp``, ``utt2spk``, ``spk2utt``, with safe
utterance ids and safe wav paths; audio Kaldi cannot read itself is converted a piece at a
time), runs the recipe with an argument list (never through a shell), follows its stage logs
for progress, and reads the finished arks with kaldiio from files. The recipe builds the
front end from the model dir itself, as deepbrain's frontend.py does (tests hold the two
descriptions side by side); only the network's pieces, already in memory, are passed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Sequence

import kaldiio
import numpy as np

from ..arkstream import matrix_at, open_matrix, scp_entries
from ..artefacts import (Activations, CancelHook, Chunk, Progress, ProgressHook, Request,
                         Utterance, check_cancel, collect, first_nonfinite, nonfinite_error)
from ..audio import open_for_model
from ..errors import Cancelled, DeepbrainError, KaldiError
from ..features import expected_frames
from ..model import Model
from ..nnet1 import write_nnet
from ..resources import recipes_dir

NAME = "kaldi"
CHUNK_FRAMES = 2000  # rows read from the arks at a time
# Frames the network's pieces run on at a time (getact.sh --chunk-frames): nnet-forward then
# holds 300 frames, not a whole utterance, which an hour of audio needs, and which made the
# 7-layer chain 20 % faster on this project's machine (first-touched memory is dear there).
KALDI_CHUNK = 300
_CHUNK_KEY = re.compile(r"^(.*)-c(\d{7})$")
BINARIES = ("compute-mfcc-feats", "compute-fbank-feats", "compute-kaldi-pitch-feats",
            "process-kaldi-pitch-feats", "paste-feats", "compute-cmvn-stats", "apply-cmvn",
            "add-deltas", "splice-feats", "transform-feats", "nnet-forward", "nnet-copy",
            "nnet-info")
ONLINE = ("apply-cmvn-online",)  # online2bin: needed only by models with online_cmvn_opts
EXTRAS = ONLINE + ("nnet-initialize",)  # found when present
UTILS = ("parse_options.sh", "run.pl", "split_data.sh", "split_scp.pl", "utt2spk_to_spk2utt.pl")
NNET3 = ("select-feats", "copy-feats", "nnet3-info", "nnet3-copy", "nnet3-compute",
         "ivector-extract-online2")  # getact_nnet3.sh's, beyond compute-mfcc-feats
EXTRAS += NNET3
_BIN_DIRS = ("src/featbin", "src/nnetbin", "src/bin", "src/online2bin", "src/nnet3bin")
_UTILS_DIR = "egs/wsj/s5/utils"


@dataclass(frozen=True)
class KaldiInstall:
    root: Path | None                      # KALDI_ROOT (None: binaries on PATH, root unknown)
    where: str                             # how it was found, for messages
    binaries: dict = field(default_factory=dict)   # name -> path
    utils: dict = field(default_factory=dict)      # name -> path

    @property
    def missing(self) -> list[str]:
        return [b for b in BINARIES if b not in self.binaries] + \
            [f"utils/{u}" for u in UTILS if u not in self.utils]


def find_kaldi(env: dict | None = None) -> KaldiInstall | None:
    """Kaldi under ``$KALDI_ROOT`` if set, else from an ``nnet-forward`` on PATH (whose
    checkout is then taken as KALDI_ROOT). None when neither is there."""
    env = os.environ if env is None else env
    if env.get("KALDI_ROOT"):
        root, where = Path(env["KALDI_ROOT"]), f"KALDI_ROOT={env['KALDI_ROOT']}"
    else:
        found = shutil.which("nnet-forward", path=env.get("PATH", ""))
        if not found:
            return None
        root = Path(found).resolve().parent.parent.parent  # <root>/src/nnetbin/nnet-forward
        where = f"PATH ({Path(found).parent})"
        if not (root / _UTILS_DIR).is_dir():
            bins = {b: p for b in BINARIES if (p := shutil.which(b, path=env.get("PATH", "")))}
            return KaldiInstall(None, where, bins, {})
    search = os.pathsep.join(str(root / d) for d in _BIN_DIRS)
    bins = {b: p for b in BINARIES + EXTRAS if (p := shutil.which(b, path=search))}
    utils = {u: str(root / _UTILS_DIR / u) for u in UTILS if (root / _UTILS_DIR / u).exists()}
    return KaldiInstall(root, where, bins, utils)


def require(kaldi: KaldiInstall | None) -> str:
    """Why Kaldi can be used, or a :class:`KaldiError` saying what to fix."""
    if kaldi is None:
        raise KaldiError("Kaldi not found: set KALDI_ROOT to a Kaldi checkout with src/featbin, "
                         "src/nnetbin and src/bin built, or use --engine numpy")
    if kaldi.root is None:
        raise KaldiError(f"Kaldi binaries found on {kaldi.where}, but not the checkout around "
                         f"them (egs/wsj/s5/utils); set KALDI_ROOT to the Kaldi checkout")
    if kaldi.missing:
        raise KaldiError(f"Kaldi at {kaldi.root} lacks {', '.join(kaldi.missing)}; build them "
                         f"(make -C src/featbin, src/nnetbin, src/bin) or fix KALDI_ROOT")
    return f"Kaldi found at {kaldi.where}"


def require_for(kaldi: KaldiInstall, model: Model) -> None:
    """The binaries this model's front end needs beyond the usual ones."""
    if model.frontend.stage("online-cmvn") is not None and \
            not all(b in kaldi.binaries for b in ONLINE):
        raise KaldiError(f"{model.path / 'online_cmvn_opts'} asks for apply-cmvn-online, which "
                         f"Kaldi at {kaldi.root} lacks; build it (make -C src online2bin) or "
                         f"use --engine numpy")


def usable(kaldi: KaldiInstall | None) -> bool:
    return kaldi is not None and kaldi.root is not None and not kaldi.missing


# -- the work dir ----------------------------------------------------------------------------

def _make_data_dir(utts: Sequence[Utterance], model: Model, request: Request, work: Path
                   ) -> dict[str, str]:
    """Write data/; return safe utterance id -> the user's id.

    Ids are ``s<speaker>-u<n>`` so that, sorted, utterances group by speaker as Kaldi wants
    (and come in the order the numpy engine takes them: speakers by first appearance, each
    one's utterances as given); wavs are symlinks to the user's files, or 16-bit copies where
    Kaldi could not read the file itself (other widths, channel picked, resampled), written a
    piece at a time.
    """
    data = work / "data"
    (data / "wav").mkdir(parents=True)
    speakers: dict[str, str] = {}
    ids: dict[str, str] = {}
    scp, utt2spk = [], []
    for i, utt in enumerate(utts):
        key = utt.speaker if model.per_speaker else utt.utt_id
        spk = speakers.setdefault(key, f"s{len(speakers) + 1:05d}")
        safe = f"{spk}-u{i + 1:05d}"
        wav = data / "wav" / f"{safe}.wav"
        _link_or_convert(utt, model, request, wav)
        ids[safe] = utt.utt_id
        scp.append(f"{safe} {wav}\n")
        utt2spk.append(f"{safe} {spk}\n")
    (data / "wav.scp").write_text("".join(sorted(scp)))
    (data / "utt2spk").write_text("".join(sorted(utt2spk)))
    spk2utt: dict[str, list[str]] = {}
    for line in sorted(utt2spk):
        u, s = line.split()
        spk2utt.setdefault(s, []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in spk2utt.items()))
    return ids


def _link_or_convert(utt: Utterance, model: Model, request: Request, wav: Path) -> None:
    """``wav``: a symlink to the user's file where Kaldi reads exactly the samples the numpy
    engine sees, else those samples as a 16-bit mono wav, written a piece at a time."""
    with open_for_model(utt.path, model.sample_rate, request.channel, request.resample) as src:
        expected_frames(src.num_samples, src.sample_rate, model.features, src.source)
        if src.reader.as_on_disk and src.resampler is None:
            wav.symlink_to(Path(utt.path).absolute())
            return
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(src.sample_rate)
            for piece in src.pieces():
                w.writeframes(np.clip(np.rint(piece), -32768, 32767).astype("<i2").tobytes())


def _write_pieces(model: Model, request: Request, work: Path) -> Path:
    """The network cut into per-layer pieces, as getact.sh would cut them with nnet-copy,
    written from the network already in memory. They are kept in the user's cache, named by
    the network's checksum, so a model's pieces are written once, not on every run; where
    the cache cannot be written, they go into the work dir."""
    digest = _checksum(model.path / "final.nnet", _cache_dir() / "pieces" / "by-stat")
    cache = _cache_dir() / "pieces" / digest
    if (cache / "plan").is_file():
        return cache
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=cache.parent))
    except OSError:
        return _cut(model, work / "pieces")
    try:
        _cut(model, tmp)
        os.replace(tmp, cache)
    except OSError:  # another run put them there first, or the cache filled up
        shutil.rmtree(tmp, ignore_errors=True)
        return cache if (cache / "plan").is_file() else _cut(model, work / "pieces")
    return cache


def _cut(model: Model, d: Path) -> Path:
    """Every piece (each hidden layer's, and the output's) and the plan into ``d``."""
    d.mkdir(exist_ok=True)
    pieces = model.nnet.layer_pieces()
    for k in range(1, model.num_hidden + 1):
        write_nnet(pieces[k - 1], d / f"piece{k}.nnet")
    if len(pieces) > model.num_hidden:
        write_nnet(pieces[-1], d / "output.nnet")
    positions = " ".join(str(i + 1) for i in model.nnet.hidden_layer_components)
    (d / "plan").write_text(f"num-components {len(model.nnet.components)}\n"
                            f"hidden {positions}\n")  # written last: it marks them complete
    return d


def _checksum(path: Path, memo: Path | None = None) -> str:
    """The file's sha256 (first 32 hex digits). With ``memo``, a dir where each checksum is
    kept under the file's identity and change stamps (device, inode, size, modification and
    change times in ns, as git's index keeps them): a network read on every run is hashed
    once, not each time (a changed file has new stamps, so it is hashed again)."""
    st = path.stat()
    key = f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"
    if memo is not None:
        try:
            known = (memo / key).read_text()
            if re.fullmatch(r"[0-9a-f]{32}", known):
                return known
        except (OSError, UnicodeDecodeError):
            pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()[:32]
    if memo is not None:
        try:
            memo.mkdir(parents=True, exist_ok=True)
            tmp = memo / f".{key}.{os.getpid()}"
            tmp.write_text(digest)
            os.replace(tmp, memo / key)
        except OSError:  # a cache that cannot be written only costs the hashing
            pass
    return digest


def _cache_dir() -> Path:
    """``$XDG_CACHE_HOME/deepbrain`` (default ``~/.cache/deepbrain``): safe to delete."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepbrain"


# -- running and following the recipe --------------------------------------------------------

# The last line of a job's log: run.pl's "# Ended (code N) at ...", slurm.pl's and
# queue.pl's "# Finished at ... with status N".
_ENDED = re.compile(rb"# (?:Ended \(code|Finished at [^\n]* with status) (\d+)")
# Header lines of slurm.pl/queue.pl logs before the command: host, start, scheduler variables.
_HEADER = re.compile(r"# (?:Running on |Started at |\w+=)")


def _num_jobs(request: Request, work: Path) -> int:
    """--nj, but no more jobs than speakers (the recipe splits the data by speaker)."""
    speakers = len((work / "data" / "spk2utt").read_text().splitlines())
    return max(1, min(request.nj, speakers))


def _stage_totals(model: Model, request: Request, work: Path) -> dict[str, int]:
    """Jobs per stage, as the recipe names its logs (log/<stage>.*.log)."""
    nj = _num_jobs(request, work)
    fe = model.frontend
    pieces = (model.num_hidden if request.output else max(request.layers)) + \
        (1 if request.output else 0) + 1 + \
        (1 if model.feature_transform is not None else 0)  # chunks; the feature transform
    totals = {fe.stages[0].name: nj}
    jobs = {"pitch": 2 * nj + 1, "online-cmvn": nj, "cmvn": 2 * nj, "deltas": nj,
            "splice": nj, "transform": nj}
    totals.update((s.name, jobs[s.name]) for s in fe.stages[1:])
    totals["forward"] = nj * pieces
    return totals


def _log_status(log_dir: Path) -> tuple[dict[str, int], list[tuple[Path, int]]]:
    """Finished jobs per stage, and the logs of failed jobs (path, exit code)."""
    done: dict[str, int] = {}
    failed = []
    for log in sorted(log_dir.glob("*.log")):
        try:
            tail = log.read_bytes()[-400:]
        except OSError:
            continue
        m = _ENDED.search(tail)
        if not m:
            continue
        if m.group(1) == b"0":
            stage = log.name.split(".", 1)[0]
            done[stage] = done.get(stage, 0) + 1
        else:
            failed.append((log, int(m.group(1))))
    return done, failed


def _error_lines(lines: list[str]) -> list[str]:
    """Kaldi's ERROR line(s) without the stack trace, else the log's last lines."""
    start = next((i for i, line in enumerate(lines) if "ERROR" in line), None)
    if start is None:
        return lines[-8:]
    end = next((i for i in range(start, len(lines)) if "Stack-Trace" in lines[i]), len(lines))
    return lines[start:min(end, start + 8)]


def _failure(work: Path, returncode: int, recipe: Path, kept: bool = True) -> KaldiError:
    """The failed stage, its command, log and Kaldi's ERROR lines; where the work dir is
    about to be removed, the log is quoted and the way to keep it named instead."""
    where = "" if kept else " (work dir removed; --keep-workdir DIR keeps it)"
    _, failed = _log_status(work / "exp" / "log")
    if failed:
        log, code = failed[0]
        lines = log.read_text(errors="replace").splitlines()
        command = next((line for line in lines if line.startswith("# ") and
                        not _HEADER.match(line)), "# ?")[2:]
        body = _error_lines([line for line in lines if not line.startswith("# ")])
        stage = log.name.split(".", 1)[0]
        return KaldiError(f"Kaldi stage {stage} failed (exit {code}): {command}\n"
                          f"  log: {log}{where}\n  " + "\n  ".join(body))
    out = [line for line in (work / "getact.log").read_text(errors="replace").splitlines()
           if line.strip()]
    said = [line for line in out if line.startswith(str(recipe) + ": ")]
    if said:  # the recipe's own one-line reason
        return KaldiError(said[-1].split(": ", 1)[1] + where)
    return KaldiError(f"{recipe} failed (exit {returncode}){where}; its last lines:\n  "
                      + "\n  ".join(out[-8:]))


def _run_recipe(kaldi: KaldiInstall, model: Model, request: Request, work: Path,
                progress: ProgressHook | None, cancel: CancelHook | None) -> None:
    recipe = recipes_dir() / "getact.sh"
    argv = ["bash", str(recipe), "--nj", str(_num_jobs(request, work)),
            *(["--cmd", request.cmd] if request.cmd else []),   # else cmd.sh's
            "--layers", ",".join(map(str, request.layers)),
            "--write-output", str(request.output).lower(),
            "--keep-intermediate", str(request.keep_intermediate).lower(),
            "--nnet-pieces", str(_write_pieces(model, request, work)),
            "--chunk-frames", str(KALDI_CHUNK),
            str(work / "data"), str(Path(model.path).absolute()), str(work / "exp")]
    follow_recipe(kaldi, recipe, argv, work, _stage_totals(model, request, work), request,
                  progress, cancel)


def follow_recipe(kaldi: KaldiInstall, recipe: Path, argv: list[str], work: Path,
                  totals: dict[str, int], request: Request, progress: ProgressHook | None,
                  cancel: CancelHook | None) -> None:
    """Run a recipe (an argument list, never a shell string) in ``work``, logging to
    ``work/getact.log``, reporting its stage logs' progress; a failure names the stage."""
    env = dict(os.environ, KALDI_ROOT=str(kaldi.root), LC_ALL="C")
    reported: dict[str, int] = {}
    with open(work / "getact.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while proc.poll() is None:
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                _report(work, totals, reported, progress)
                try:
                    proc.wait(timeout=0.1)  # returns as soon as the recipe ends
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
    if proc.returncode != 0:
        raise _failure(work, proc.returncode, recipe, kept=request.keep_workdir is not None)
    _report(work, totals, reported, progress)


# What run.pl, queue.pl and slurm.pl join unquoted into bash command lines and job scripts.
def _report(work: Path, totals: dict[str, int], reported: dict[str, int],
            progress: ProgressHook | None) -> None:
    if progress is None or not (work / "exp" / "log").is_dir():
        return
    done, _ = _log_status(work / "exp" / "log")
    for stage, total in totals.items():
        n = min(done.get(stage, 0), total)
        if n != reported.get(stage, 0):
            reported[stage] = n
            progress(Progress(stage, n, total))


# -- the engine ------------------------------------------------------------------------------

def run(utts: Sequence[Utterance], model: Model, request: Request,
        progress: ProgressHook | None = None, cancel: CancelHook | None = None
        ) -> Iterator[Activations]:
    """Whole utterances."""
    return collect(stream(utts, model, request, progress, cancel), model.frame_shift, NAME,
                   request.keep_intermediate)


def stream(utts: Sequence[Utterance], model: Model, request: Request,
           progress: ProgressHook | None = None, cancel: CancelHook | None = None,
           chunk_frames: int = CHUNK_FRAMES) -> Iterator[Chunk]:
    """Chunks of frames read from Kaldi's arks as they are needed (memory-mapped), in the
    order the utterances were given."""
    if model.kind == "nnet3":
        from . import kaldi_nnet3

        return kaldi_nnet3.stream(utts, model, request, progress, cancel, chunk_frames)
    return _stream_nnet1(utts, model, request, progress, cancel, chunk_frames)


def work_dir(request: Request) -> Path:
    """--keep-workdir (new or empty), else a fresh temporary dir."""
    if request.keep_workdir is not None:
        work = Path(request.keep_workdir).absolute()
        if work.exists() and any(work.iterdir()):
            raise KaldiError(f"{work}: --keep-workdir must be a new or empty directory")
        work.mkdir(parents=True, exist_ok=True)
        return work
    return Path(tempfile.mkdtemp(prefix="deepbrain-kaldi-"))


def _stream_nnet1(utts: Sequence[Utterance], model: Model, request: Request,
                  progress: ProgressHook | None, cancel: CancelHook | None,
                  chunk_frames: int) -> Iterator[Chunk]:
    kaldi = find_kaldi()
    require(kaldi)
    require_for(kaldi, model)
    work = work_dir(request)
    try:
        check_cancel(cancel)
        ids = _make_data_dir(utts, model, request, work)
        try:
            _run_recipe(kaldi, model, request, work, progress, cancel)
        except KaldiError:
            nan = _nonfinite_failure(work / "exp", ids, model)
            if nan is not None:
                raise nan from None
            raise
        yield from _stream_results(work / "exp", ids, model, request, chunk_frames, cancel,
                                   chunked=True)
    finally:
        if request.keep_workdir is None:
            shutil.rmtree(work, ignore_errors=True)


# The stage tables the recipe writes, in chain order (--keep-intermediate).
STAGE_TABLES = ("feats", "cmvn", "cmvn_feats", "deltas", "spliced", "transformed",
                "nnet_input")


def _stream_results(exp: Path, ids: dict[str, str], model: Model, request: Request,
                    chunk_frames: int, cancel: CancelHook | None, chunked: bool = False
                    ) -> Iterator[Chunk]:
    """The recipe's tables as chunks; ``chunked`` where it ran the network on pieces of
    utterances (getact.sh --chunk-frames: <utt>-c<first frame> entries)."""
    def table(name: str) -> dict[str, tuple[str, int]]:
        return {key: (ark, off) for key, ark, off in scp_entries(exp / f"{name}.scp")}

    layers = {k: table(f"layer{k}") for k in request.layers}
    output = table("output") if request.output else None
    pieces = _pieces_by_utterance(next(iter(layers.values())) if layers else output, chunked)
    stages = {n: table(n) for n in _stage_tables(model)} if request.keep_intermediate else {}
    if stages and "nnet_input" not in stages:  # no feature transform: the network's input
        stages["nnet_input"] = stages[[n for n in stages if n != "cmvn"][-1]]
    by_user = {user: safe for safe, user in ids.items()}
    for user_id in ids.values():
        safe = by_user[user_id]
        spk = safe.split("-", 1)[0]
        st = {n: open_matrix(*t[spk if n == "cmvn" else safe]) for n, t in stages.items()}
        whole = {"cmvn": np.array(st.pop("cmvn"))} if "cmvn" in st else {}
        mine = pieces[safe]
        last = layers[min(layers)][mine[-1][1]] if layers else output[mine[-1][1]]
        total = mine[-1][0] + matrix_at(*last)[1]  # the last piece's start + its rows
        # The recipe ran the network on KALDI_CHUNK frames at a time (<utt>-c<first frame>
        # entries); their rows are handed on as read-only views of Kaldi's arks (memory-
        # mapped: no copy; the mapping outlives the work dir's removal). They need no NaN
        # check of ours: nnet-forward stops on NaN or inf in any matrix it writes ("NaN or
        # inf found in nn-output"), which _nonfinite_failure turns into the numpy engine's.
        for first, key in mine:
            mats = {k: open_matrix(*t[key]) for k, t in layers.items()}
            out = open_matrix(*output[key]) if output is not None else None
            rows = next(iter(mats.values())).shape[0] if mats else out.shape[0]
            for a in range(0, rows, chunk_frames):
                check_cancel(cancel)
                b = min(rows, a + chunk_frames)
                yield Chunk(user_id, first + a, total,
                            MappingProxyType({k: m[a:b] for k, m in mats.items()}),
                            out[a:b] if out is not None else None,
                            MappingProxyType({n: m[first + a:first + b] for n, m in st.items()}),
                            MappingProxyType(whole if first + a == 0 else {}))


def _pieces_by_utterance(table: dict[str, tuple[str, int]], chunked: bool
                         ) -> dict[str, list[tuple[int, str]]]:
    """The recipe's ``<utt>-c<first frame>`` entries of each utterance, in order (without
    ``chunked``, each utterance is one entry)."""
    if not chunked:
        return {key: [(0, key)] for key in table}
    pieces: dict[str, list[tuple[int, str]]] = {}
    for key in table:
        m = _CHUNK_KEY.match(key)
        if m is None:
            raise KaldiError(f"{key}: not an entry of a chunked table (<utt>-cNNNNNNN)")
        pieces.setdefault(m.group(1), []).append((int(m.group(2)), key))
    for entries in pieces.values():
        entries.sort()
    return pieces


def _stage_tables(model: Model) -> list[str]:
    """The tables the recipe writes for this front end, named as the numpy engine names its
    stage outputs (the offline CMVN statistics as ``cmvn``)."""
    names = []
    for s in model.frontend.stages:
        if s.output not in names:
            names.append(s.output)
        if s.name == "cmvn":
            names.insert(names.index("cmvn_feats"), "cmvn")
    if model.feature_transform is not None:
        names.append("nnet_input")
    return names


_KALDI_NAN = re.compile(r"NaN or inf found in .* for (\S+)")


def _nonfinite_failure(exp: Path, ids: dict[str, str], model: Model) -> DeepbrainError | None:
    """Kaldi's own NaN check stopped a stage: the same error the numpy engine gives, naming
    the first stage whose output (kept in the work dir) holds NaN or inf, else the stage
    whose check fired (``forward.layerK`` -> layer K, frame unknown)."""
    for log in sorted((exp / "log").glob("*.log")):
        m = _KALDI_NAN.search(log.read_text(errors="replace"))
        if m is None:
            continue
        safe = m.group(1)  # the utterance, or the piece of it (<utt>-cNNNNNNN) that stopped
        piece = _CHUNK_KEY.match(safe)
        if piece and piece.group(1) in ids:
            safe = piece.group(1)
        if safe in ids:
            found = _first_nonfinite_stage(exp, safe)
            if found is None:
                fired = re.match(r"forward\.(layer\d+|output|input)\.", log.name)
                stage = fired.group(1) if fired else "forward"
                found = ("nnet_input" if stage == "input" else stage, None)
            return nonfinite_error(ids[safe], *found, model.path)
    return None


def _first_nonfinite_stage(exp: Path, safe: str) -> tuple[str, int] | None:
    """Which of the recipe's stage outputs (all kept in its work dir) first holds NaN/inf."""
    names = ["feats", "cmvn_feats", "deltas", "spliced", "transformed", "nnet_input"]
    names += sorted((p.stem for p in exp.glob("layer*.scp") if "." not in p.stem),
                    key=lambda n: int(n[5:]))
    for name in names + ["output"]:
        if (exp / f"{name}.scp").is_file():
            table = kaldiio.load_scp(str(exp / f"{name}.scp"))
            if safe in table:
                found = first_nonfinite([(name, table[safe])])
                if found is not None:
                    return found
    return None
