"""The same training as :mod:`.trainer`, in PyTorch on the CPU (the ``train`` extra).

Same network (sigmoid hidden layers, softmax output, Glorot-uniform initial weights drawn by
:func:`.trainer.initial_network` from the seed), same minibatch Adam and the same newbob
schedule on the validation loss; it returns the trained :class:`~.network.Mlp`, which is
written as Kaldi nnet1 like the numpy trainer's. Faster (one fused thread does the matrix
products of a minibatch), and with two additions:

- **one copy per utterance per epoch**: when the train set holds perturbed copies of each
  utterance (:mod:`.perturb`), epoch e draws one copy of every utterance (seeded by
  ``(seed, e)``), so every epoch hears other vocal tracts and silences at the cost of one;
- **dropout** on the hidden layers' outputs while training (``TrainConfig.dropout``; nnet1
  has no dropout at test time, so nothing of it is written).

Bit-reproducible on one machine: ``torch.use_deterministic_algorithms(True)``, a fixed
thread count (``TrainConfig.threads``), every random draw from the seed.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from ..pipeline import CancelHook, Progress, ProgressHook, check_cancel
from .errors import TrainingError
from .network import Mlp
from .trainer import EpochReport, SplicedInput, TrainConfig, initial_network, newbob

INSTALL = "pip install -e '.[train]' (PyTorch 2.13 for the CPU)"


def _torch():
    try:
        import torch
    except ImportError as e:
        raise TrainingError(f"PyTorch is not installed ({e}); {INSTALL}") from None
    return torch


class _Data:
    """A SplicedInput as torch tensors: features, the splice index, shift and scale."""

    def __init__(self, data: SplicedInput):
        torch = _torch()
        rest = data.rest.components
        shift = [c for c in rest if type(c).__name__ == "AddShift"]
        scale = [c for c in rest if type(c).__name__ == "Rescale"]
        if len(rest) != len(shift) + len(scale) or len(shift) > 1 or len(scale) > 1:
            raise TrainingError("the torch trainer takes a feature transform of Splice, "
                                "AddShift, Rescale")
        self.feats = torch.from_numpy(np.ascontiguousarray(data.frames.feats))
        self.index = torch.from_numpy(data.index)
        dim = data.dim
        self.shift = torch.from_numpy(shift[0].shift) if shift else torch.zeros(dim)
        self.scale = torch.from_numpy(scale[0].scale) if scale else torch.ones(dim)
        self.labels = torch.from_numpy(data.frames.labels.astype(np.int64))
        self.frames = data.frames
        self.dim = dim

    def batch(self, rows):
        x = self.feats[self.index[rows]].reshape(len(rows), -1)
        return (x + self.shift) * self.scale

    def epoch_rows(self, seed: int, epoch: int) -> np.ndarray:
        """Rows of one copy of every utterance (all rows when there are no copies)."""
        f = self.frames
        nums = f.copy_numbers
        if not nums.any():
            return np.arange(f.num_frames)
        first = np.flatnonzero(nums == 0)
        ends = np.append(first[1:], len(nums))
        rng = np.random.default_rng([seed, epoch, 5])
        pick = first + (rng.random(first.size) * (ends - first)).astype(np.int64)
        return np.concatenate([np.arange(f.starts[i], f.starts[i + 1]) for i in pick])


def _network(mlp: Mlp, dropout: float):
    torch = _torch()
    layers = []
    last = len(mlp.weights) - 1
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases)):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k != last:
            layers.append(torch.nn.Sigmoid())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def _to_mlp(net) -> Mlp:
    torch = _torch()
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    return Mlp([m.weight.detach().numpy().T.copy() for m in lins],
               [m.bias.detach().numpy().copy() for m in lins])


def _evaluate(net, data: _Data, chunk: int = 8192) -> tuple[float, float]:
    torch = _torch()
    n = data.labels.numel()
    loss, correct = 0.0, 0
    net.eval()
    with torch.no_grad():
        for start in range(0, n, chunk):
            rows = torch.arange(start, min(start + chunk, n))
            z = net(data.batch(rows))
            y = data.labels[rows]
            loss += float(torch.nn.functional.cross_entropy(z, y, reduction="sum"))
            correct += int((z.argmax(dim=1) == y).sum())
    return loss / max(n, 1), correct / max(n, 1)


def train(train_data: SplicedInput, valid_data: SplicedInput, num_classes: int,
          config: TrainConfig, report: Callable[[EpochReport], None] | None = None,
          progress: ProgressHook | None = None, cancel: CancelHook | None = None
          ) -> tuple[Mlp, tuple[EpochReport, ...]]:
    """Train from :func:`initial_network`; the network and every epoch's figures."""
    torch = _torch()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tr, va = _Data(train_data), _Data(valid_data)
    net = _network(initial_network(tr.dim, num_classes, config), config.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=config.learn_rate,
                           weight_decay=config.l2)

    def run_epoch(epoch: int, rate: float) -> tuple[float, float]:
        for group in opt.param_groups:
            group["lr"] = rate
        return _epoch(net, opt, tr, epoch, config, progress, cancel)

    def restore(saved) -> None:
        net.load_state_dict(saved[0])
        opt.load_state_dict(saved[1])

    reports = newbob(config, run_epoch, lambda: _evaluate(net, va),
                     lambda: (copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())),
                     restore, report)
    return _to_mlp(net), reports


def _epoch(net, opt, data: _Data, epoch: int, config: TrainConfig,
           progress: ProgressHook | None, cancel: CancelHook | None) -> tuple[float, float]:
    torch = _torch()
    rows = data.epoch_rows(config.seed, epoch)
    order = torch.from_numpy(rows[np.random.default_rng([config.seed, epoch]).permutation(
        rows.size)])
    net.train()
    loss, correct = 0.0, 0
    batches = range(0, order.numel(), config.batch_size)
    for b, start in enumerate(batches):
        idx = order[start:start + config.batch_size]
        y = data.labels[idx]
        z = net(data.batch(idx))
        batch_loss = torch.nn.functional.cross_entropy(z, y)
        if not torch.isfinite(batch_loss):
            raise TrainingError(f"epoch {epoch}: the loss became {float(batch_loss)}; "
                                f"lower the learning rate (now {opt.param_groups[0]['lr']:g})")
        opt.zero_grad(set_to_none=True)
        batch_loss.backward()
        opt.step()
        loss += float(batch_loss.detach()) * idx.numel()
        correct += int((z.detach().argmax(dim=1) == y).sum())
        if b % 100 == 0:
            check_cancel(cancel)
            if progress is not None:
                progress(Progress(f"train epoch {epoch}", b + 1, len(batches)))
    return loss / max(order.numel(), 1), correct / max(order.numel(), 1)
