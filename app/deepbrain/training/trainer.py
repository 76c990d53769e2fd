"""Frame-level cross-entropy training with minibatch Adam and nnet1's "newbob" schedule.

Kaldi's ``steps/nnet/train_scheduler.sh``: after each epoch the loss on a held-out
validation set decides. An epoch that makes it worse is rejected (the network and the
optimiser go back to where the epoch started); once an epoch improves it by less than
``halving_start`` (relative), the learning rate is halved after every epoch; training stops
when a halved epoch improves by less than ``halving_end``, or after ``epochs``.

Deterministic: the initial weights come from ``seed`` and epoch e's frame order from
``(seed, e)``; all arithmetic is float32 numpy, so the same machine and BLAS thread count
give the same bytes (the Makefile pins OPENBLAS_NUM_THREADS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nnet1 import Nnet, Splice
from ..pipeline import CancelHook, Progress, ProgressHook, check_cancel
from .errors import TrainingError
from .frames import FrameSet
from .network import Adam, Mlp

F32 = np.float32


@dataclass(frozen=True)
class TrainConfig:
    hidden_layers: int = 5
    hidden_units: int = 512
    epochs: int = 10
    batch_size: int = 256
    learn_rate: float = 1e-3
    halving_start: float = 0.01
    halving_end: float = 0.001
    seed: int = 0
    backend: str = "numpy"   # numpy (this module) or torch (.torchtrain, the train extra)
    threads: int = 1         # torch's thread count (fixed: the same bytes on one machine)
    dropout: float = 0.0     # torch only: dropout on the hidden outputs while training
    l2: float = 0.0          # torch only: Adam's weight decay

    def __post_init__(self):
        if self.backend not in ("numpy", "torch"):
            raise TrainingError(f"unknown trainer {self.backend!r}; choose numpy or torch")
        if self.backend == "numpy" and (self.dropout or self.l2):
            raise TrainingError("dropout and l2 need the torch trainer (--trainer torch)")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("hidden_layers", "hidden_units", "epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name.replace('_', '-')} must be at least 1, "
                                    f"got {getattr(self, name)}")
        if not self.learn_rate > 0:
            raise TrainingError(f"learn-rate must be positive, got {self.learn_rate}")


@dataclass(frozen=True)
class EpochReport:
    """One epoch's figures; epoch 0 is the initial network (validation only). Train loss is
    the mean cross-entropy (nats/frame) and accuracy the share of frames right, both as
    accumulated over the epoch's minibatches (as nnet-train-frmshuff reports them)."""

    epoch: int
    learn_rate: float
    train_loss: float
    train_accuracy: float
    valid_loss: float
    valid_accuracy: float
    seconds: float
    accepted: bool


class SplicedInput:
    """The network's input rows for any frames, made on demand: the feature transform's
    Splice as a gather (within each utterance, edges repeated), then its other components
    (AddShift, Rescale) through deepbrain's own nnet1 code."""

    def __init__(self, frames: FrameSet, feature_transform: Nnet):
        splice = feature_transform.components[0]
        if not isinstance(splice, Splice):
            raise TrainingError("the feature transform must start with a Splice")
        self.frames = frames
        self.rest = feature_transform.slice(1)
        index = np.empty((frames.num_frames, splice.offsets.size), dtype=np.int64)
        for i in range(len(frames.utt_ids)):
            r = frames.rows(i)
            t = np.arange(r.start, r.stop)[:, None] + splice.offsets[None, :]
            index[r] = np.clip(t, r.start, r.stop - 1)
        self.index = index
        self.dim = feature_transform.output_dim

    def batch(self, rows: np.ndarray) -> np.ndarray:
        x = self.frames.feats[self.index[rows]].reshape(len(rows), -1)
        return self.rest.propagate(x) if self.rest.components else x


def evaluate(mlp: Mlp, data: SplicedInput, chunk: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy and frame accuracy over all frames of ``data``."""
    labels = data.frames.labels
    n = labels.size
    loss, correct = 0.0, 0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        _, logp = mlp.forward(data.batch(rows))
        y = labels[rows]
        loss -= float(logp[np.arange(len(rows)), y].sum(dtype=np.float64))
        correct += int((logp.argmax(axis=1) == y).sum())
    return loss / max(n, 1), correct / max(n, 1)


def initial_network(input_dim: int, num_classes: int, config: TrainConfig) -> Mlp:
    dims = [input_dim] + [config.hidden_units] * config.hidden_layers + [num_classes]
    return Mlp.init(dims, np.random.default_rng([config.seed, 0]))


def train(train_data: SplicedInput, valid_data: SplicedInput, num_classes: int,
          config: TrainConfig, report: Callable[[EpochReport], None] | None = None,
          progress: ProgressHook | None = None, cancel: CancelHook | None = None
          ) -> tuple[Mlp, tuple[EpochReport, ...]]:
    """Train from :func:`initial_network`; the network and every epoch's figures."""
    mlp = initial_network(train_data.dim, num_classes, config)
    opt = Adam(mlp.params())
    reports = newbob(
        config, lambda epoch, rate: _epoch(mlp, opt, train_data, rate, epoch, config, progress,
                                           cancel),
        lambda: evaluate(mlp, valid_data), lambda: (mlp.copy(), opt.state()),
        lambda saved: (mlp.load(saved[0]), opt.restore(saved[1])), report)
    return mlp, reports


def newbob(config: TrainConfig, run_epoch: Callable[[int, float], tuple[float, float]],
           validate: Callable[[], tuple[float, float]], save: Callable[[], object],
           restore: Callable[[object], object],
           report: Callable[[EpochReport], None] | None) -> tuple[EpochReport, ...]:
    """Kaldi nnet1's newbob schedule on the validation loss, whatever trains the network: an
    epoch that makes it worse is undone (``restore`` of what ``save`` gave before it); once
    an epoch gains less than ``halving_start`` the learning rate halves every epoch; stop when
    a halved epoch gains less than ``halving_end``. ``run_epoch(epoch, rate)`` and
    ``validate()`` give (loss, accuracy)."""
    loss, acc = validate()
    reports = [EpochReport(0, 0.0, float("nan"), float("nan"), loss, acc, 0.0, True)]
    if report:
        report(reports[-1])
    best, rate, halving = loss, config.learn_rate, False
    for epoch in range(1, config.epochs + 1):
        started = time.monotonic()
        saved = save()
        tr_loss, tr_acc = run_epoch(epoch, rate)
        loss, acc = validate()
        accepted = loss < best
        gain = (best - loss) / best if accepted else 0.0
        if accepted:
            best = loss
        else:
            restore(saved)
        reports.append(EpochReport(epoch, rate, tr_loss, tr_acc, loss, acc,
                                   time.monotonic() - started, accepted))
        if report:
            report(reports[-1])
        if halving and gain < config.halving_end:
            break
        if gain < config.halving_start:
            halving = True
        if halving:
            rate /= 2
    return tuple(reports)


def _epoch(mlp: Mlp, opt: Adam, data: SplicedInput, rate: float, epoch: int,
           config: TrainConfig, progress: ProgressHook | None,
           cancel: CancelHook | None) -> tuple[float, float]:
    n = data.frames.num_frames
    order = np.random.default_rng([config.seed, epoch]).permutation(n)
    labels = data.frames.labels
    params = mlp.params()
    loss, correct = 0.0, 0
    batches = range(0, n, config.batch_size)
    for b, start in enumerate(batches):
        rows = order[start:start + config.batch_size]
        batch_loss, batch_correct, grads = mlp.gradients(data.batch(rows), labels[rows])
        if not np.isfinite(batch_loss):
            raise TrainingError(f"epoch {epoch}: the loss became {batch_loss}; "
                                f"lower the learning rate (now {rate:g})")
        opt.step(params, grads, rate)
        loss += batch_loss
        correct += batch_correct
        if b % 100 == 0:
            check_cancel(cancel)
            if progress is not None:
                progress(Progress(f"train epoch {epoch}", b + 1, len(batches)))
    return loss / n, correct / n
