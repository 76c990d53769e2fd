"""Model dirs as Kaldi's recipes make them, built with real Kaldi's own tools, and what Kaldi's
own command lines compute from them: for tests/test_frontend_kaldi.py (marker ``kaldi``) and
tests/data/frontend/make_golden.py.

Three kinds of nnet1 dir (issue 13):

- ``fbank_deltas``: as steps/nnet/train.sh leaves one after steps/make_fbank.sh: 40
  filterbanks, per-speaker CMVN with variances (``cmvn_opts``), ``add-deltas
  --delta-order=2`` (``delta_opts``), a final.feature_transform made as train.sh makes it
  (``nnet-initialize`` of a ``<Splice>`` ±5, ``compute-cmvn-stats`` of its output,
  ``cmvn-to-nnet``, ``nnet-concat``) and a network from ``nnet-initialize`` of a proto;
- ``online_cmvn``: MFCC with ``apply-cmvn-online`` (``online_cmvn_opts``,
  ``global_cmvn_stats.mat`` from ``compute-cmvn-stats``), deltas, the same kind of transform;
- ``mfcc_pitch``: MFCC with pitch pasted on (``conf/pitch.conf``, as make_mfcc_pitch.sh),
  per-speaker means-only CMVN, the same kind of transform.

Every dir has a ``final.mdl`` from ``gmm-init-mono`` (what tells deepbrain and getact.sh it is
a steps/nnet dir) when gmmbin is built, else an empty one (only its presence is read).

The reference outputs are Kaldi's command lines as the recipes write them (make_fbank.sh,
make_mfcc_pitch.sh with all utterances in one job, decode.sh's apply-cmvn-online /
apply-cmvn / add-deltas, nnet-forward with the feature transform), independent of getact.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN = 32     # units in each of the two hidden layers
OUTPUTS = 10    # network outputs (and pdfs of the final.mdl)

KINDS = {
    "fbank_deltas": {
        "conf/fbank.conf": "--num-mel-bins=40\n--sample-frequency=16000\n",
        "cmvn_opts": "--norm-means=true --norm-vars=true\n",
        "delta_opts": "--delta-order=2\n",
    },
    "online_cmvn": {
        "conf/mfcc.conf": "--use-energy=false\n--num-ceps=13\n",
        "online_cmvn_opts": "--cmn-window=120 --speaker-frames=80 --global-frames=60 "
                            "--norm-vars=true\n",
        "delta_opts": "--delta-order=1\n",
    },
    "mfcc_pitch": {
        "conf/mfcc.conf": "--use-energy=false\n",
        "conf/pitch.conf": "--sample-frequency=16000\n",
        "cmvn_opts": "--norm-means=true --norm-vars=false\n",
    },
}

TOPO = """<Topology>
<TopologyEntry>
<ForPhones>
{phones}
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
"""


@dataclass(frozen=True)
class Kaldi:
    root: Path

    def bin(self, name: str) -> str:
        """The program in the checkout, else on PATH (a program built on its own)."""
        for d in ("featbin", "nnetbin", "bin", "online2bin", "gmmbin"):
            p = self.root / "src" / d / name
            if p.is_file():
                return str(p)
        found = shutil.which(name)
        if found:
            return found
        raise FileNotFoundError(f"{name} is not built under {self.root}/src")

    def has(self, name: str) -> bool:
        try:
            self.bin(name)
            return True
        except FileNotFoundError:
            return False

    def run(self, name: str, *args, cwd: Path, stdin: bytes | None = None) -> bytes:
        """One Kaldi program, its arguments a list (pipes inside rspecifiers name binaries
        by absolute path; Kaldi runs those through popen itself, as in its recipes)."""
        r = subprocess.run([self.bin(name), *map(str, args)], cwd=cwd, input=stdin,
                           capture_output=True, env=dict(os.environ, LC_ALL="C"))
        if r.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(map(str, args))} failed:\n"
                               f"{r.stderr.decode(errors='replace')[-2000:]}")
        return r.stdout


def write_data_dir(d: Path, utts: list[tuple[str, Path, str]]) -> Path:
    """wav.scp, utt2spk, spk2utt for (utt_id, wav, speaker), ids sorted as Kaldi wants."""
    d.mkdir(parents=True, exist_ok=True)
    utts = sorted(utts)
    (d / "wav.scp").write_text("".join(f"{u} {w}\n" for u, w, _ in utts))
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, _, s in utts))
    spk: dict[str, list[str]] = {}
    for u, _, s in utts:
        spk.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk.items())))
    return d


def front_end_tables(kaldi: Kaldi, kind: str, model: Path, data: Path, out: Path
                     ) -> list[str]:
    """Kaldi's front end for ``kind`` on the data dir, as the recipes run it: each stage's
    table out/<name>.ark, named as deepbrain names them. Returns the names, in order."""
    out.mkdir(parents=True, exist_ok=True)
    conf = model / "conf"
    wav = f"scp:{data / 'wav.scp'}"
    names = ["feats"]
    feat = "fbank" if (conf / "fbank.conf").is_file() else "mfcc"
    config = out / f"{feat}.conf"  # the model's config with dither 0, as deepbrain runs it
    config.write_text((conf / f"{feat}.conf").read_text() + "--dither=0\n")
    if (conf / "pitch.conf").is_file():  # make_mfcc_pitch.sh, all utterances in one job
        kaldi.run("paste-feats", "--length-tolerance=2",
                  f"ark:{kaldi.bin(f'compute-{feat}-feats')} --config={config} {wav} ark:- |",
                  f"ark,s,cs:{kaldi.bin('compute-kaldi-pitch-feats')} "
                  f"--config={conf / 'pitch.conf'} {wav} ark:- | "
                  f"{kaldi.bin('process-kaldi-pitch-feats')} ark:- ark:- |",
                  f"ark:{out / 'feats.ark'}", cwd=out)
    else:
        kaldi.run(f"compute-{feat}-feats", f"--config={config}", wav, f"ark:{out / 'feats.ark'}",
                  cwd=out)
    last = "feats"
    if (model / "online_cmvn_opts").is_file():
        kaldi.run("apply-cmvn-online", *(model / "online_cmvn_opts").read_text().split(),
                  f"--spk2utt=ark:{data / 'spk2utt'}", model / "global_cmvn_stats.mat",
                  f"ark:{out / 'feats.ark'}", f"ark:{out / 'cmvn_feats.ark'}", cwd=out)
        names.append(last := "cmvn_feats")
    elif (model / "cmvn_opts").is_file():
        kaldi.run("compute-cmvn-stats", f"--spk2utt=ark:{data / 'spk2utt'}",
                  f"ark:{out / 'feats.ark'}", f"ark:{out / 'cmvn.ark'}", cwd=out)
        kaldi.run("apply-cmvn", *(model / "cmvn_opts").read_text().split(),
                  f"--utt2spk=ark:{data / 'utt2spk'}", f"ark:{out / 'cmvn.ark'}",
                  f"ark:{out / 'feats.ark'}", f"ark:{out / 'cmvn_feats.ark'}", cwd=out)
        names += ["cmvn", "cmvn_feats"]
        last = "cmvn_feats"
    if (model / "delta_opts").is_file():
        kaldi.run("add-deltas", *(model / "delta_opts").read_text().split(),
                  f"ark:{out / f'{last}.ark'}", f"ark:{out / 'deltas.ark'}", cwd=out)
        names.append(last := "deltas")
    return names


def make_model(kaldi: Kaldi, kind: str, model: Path, data: Path, work: Path,
               seed: int = 777) -> Path:
    """A model dir of ``kind`` (see the module's docstring), its statistics and its feature
    transform computed by Kaldi on the data dir (its 'training data')."""
    model.mkdir(parents=True, exist_ok=True)
    for name, text in KINDS[kind].items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_text(text)
    work.mkdir(parents=True, exist_ok=True)
    if "online_cmvn_opts" in KINDS[kind]:  # global statistics of the raw features
        (model / "online_cmvn_opts").rename(work / "online_cmvn_opts")
        raw = work / "raw"
        front_end_tables(kaldi, kind, model, data, raw)
        kaldi.run("compute-cmvn-stats", f"ark:{raw / 'feats.ark'}",
                  model / "global_cmvn_stats.mat", cwd=work)
        (work / "online_cmvn_opts").rename(model / "online_cmvn_opts")
    tables = front_end_tables(kaldi, kind, model, data, work / "train")
    dim = _dim(kaldi, work / "train" / f"{tables[-1]}.ark", work)
    # final.feature_transform as steps/nnet/train.sh makes it: splice +-5, then global CMVN.
    (work / "splice.proto").write_text(f"<Splice> <InputDim> {dim} <OutputDim> {11 * dim} "
                                       f"<BuildVector> -5:5 </BuildVector>\n")
    kaldi.run("nnet-initialize", work / "splice.proto", work / "splice.nnet", cwd=work)
    kaldi.run("nnet-forward", work / "splice.nnet", f"ark:{work / 'train' / tables[-1]}.ark",
              f"ark:{work / 'spliced.ark'}", cwd=work)
    kaldi.run("compute-cmvn-stats", f"ark:{work / 'spliced.ark'}", work / "cmvn-g.stats",
              cwd=work)
    kaldi.run("cmvn-to-nnet", "--std-dev=1.0", work / "cmvn-g.stats", work / "cmvn.nnet",
              cwd=work)
    kaldi.run("nnet-concat", work / "splice.nnet", work / "cmvn.nnet",
              model / "final.feature_transform", cwd=work)
    (work / "nnet.proto").write_text(
        "<NnetProto>\n"
        f"<AffineTransform> <InputDim> {11 * dim} <OutputDim> {HIDDEN} <BiasMean> -1.0 "
        f"<BiasRange> 2.0 <ParamStddev> 0.1\n"
        f"<Sigmoid> <InputDim> {HIDDEN} <OutputDim> {HIDDEN}\n"
        f"<AffineTransform> <InputDim> {HIDDEN} <OutputDim> {HIDDEN} <BiasMean> -1.0 "
        f"<BiasRange> 2.0 <ParamStddev> 0.5\n"
        f"<Sigmoid> <InputDim> {HIDDEN} <OutputDim> {HIDDEN}\n"
        f"<AffineTransform> <InputDim> {HIDDEN} <OutputDim> {OUTPUTS} <BiasMean> 0.0 "
        f"<BiasRange> 0.0 <ParamStddev> 0.5\n"
        f"<Softmax> <InputDim> {OUTPUTS} <OutputDim> {OUTPUTS}\n"
        "</NnetProto>\n")
    kaldi.run("nnet-initialize", f"--seed={seed}", work / "nnet.proto", model / "final.nnet",
              cwd=work)
    if kaldi.has("gmm-init-mono"):
        (work / "topo").write_text(TOPO.format(phones=" ".join(map(str, range(1,
                                                                               OUTPUTS + 1)))))
        kaldi.run("gmm-init-mono", work / "topo", dim, model / "final.mdl", work / "tree",
                  cwd=work)
    else:
        (model / "final.mdl").write_bytes(b"")
    return model


def _dim(kaldi: Kaldi, ark: Path, work: Path) -> int:
    return int(kaldi.run("feat-to-dim", f"ark:{ark}", "-", cwd=work).split()[0])


def reference(kaldi: Kaldi, kind: str, model: Path, data: Path, out: Path) -> dict:
    """Kaldi's stage tables and layers for the data dir: {name: {utt: matrix}}, layer k as
    ``layer{k}`` (the network cut after its k-th Sigmoid with nnet-copy, run by nnet-forward
    behind the feature transform, as decode.sh runs the whole network)."""
    import kaldiio

    names = front_end_tables(kaldi, kind, model, data, out)
    last = out / f"{names[-1]}.ark"
    kaldi.run("nnet-forward", model / "final.feature_transform", f"ark:{last}",
              f"ark:{out / 'nnet_input.ark'}", cwd=out)
    names.append("nnet_input")
    for k, remove in ((1, 4), (2, 2)):
        kaldi.run("nnet-copy", f"--remove-last-components={remove}", model / "final.nnet",
                  out / f"layer{k}.nnet", cwd=out)
        kaldi.run("nnet-forward", f"--feature-transform={model / 'final.feature_transform'}",
                  out / f"layer{k}.nnet", f"ark:{last}", f"ark:{out / f'layer{k}.ark'}",
                  cwd=out)
        names.append(f"layer{k}")
    kaldi.run("nnet-forward", f"--feature-transform={model / 'final.feature_transform'}",
              model / "final.nnet", f"ark:{last}", f"ark:{out / 'output.ark'}", cwd=out)
    names.append("output")
    return {n: {u: np.asarray(m) for u, m in kaldiio.load_ark(str(out / f"{n}.ark"))}
            for n in names}
