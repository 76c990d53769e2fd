"""Online i-vectors in numpy, as ``ivector-extract-online2`` computes them for one utterance.

``src/online2/online-ivector-feature.cc``: the raw features (hires MFCC) go two ways. Online
CMVN (``OnlineCmvn``: a sliding window of ``cmn-window`` frames, topped up from the global
statistics while the window is short), splicing and the LDA matrix give the features the
diagonal UBM scores; the same splicing and LDA *without* CMVN give the features the i-vector
statistics are accumulated on (unless ``--online-cmvn-iextractor``). Each frame's UBM
log-likelihoods become posteriors over the ``num-gselect`` best Gaussians, pruned below
``min-post`` (``VectorToPosteriorEntry``) and scaled by ``posterior-scale``. Every
``ivector-period`` frames the statistics so far give an i-vector by 15 steps of conjugate
gradient from the previous one (``LinearCgd``); its first dimension is then lowered by the
prior offset. Row ``i`` of the result is the i-vector after frames ``0 .. i * period``.

The statistics are in double and the features in float, as in Kaldi. Each utterance starts
from nothing (no adaptation state from earlier utterances of the speaker); the Kaldi recipe
gives ``ivector-extract-online2`` one speaker per utterance to match.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..features import apply_cmvn_online, splice_feats
from ..kaldi_formats import KaldiStream, read_matrix_file
from ..options import OnlineCmvnOptions

F32 = np.float32
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class OnlineIvectorOptions:
    """``OnlineIvectorExtractionConfig`` (Kaldi's defaults) and the splice context."""

    ivector_period: int = 10
    num_gselect: int = 5
    min_post: float = 0.025
    posterior_scale: float = 0.1
    max_count: float = 0.0
    num_cg_iters: int = 15
    online_cmvn_iextractor: bool = False
    left_context: int = 4  # splice.conf (OnlineSpliceOptions defaults)
    right_context: int = 4

    def __post_init__(self):
        if self.ivector_period < 1 or self.num_gselect < 1 or self.num_cg_iters < 0:
            raise ValueError("ivector-period and num-gselect must be positive")
        if not 0 <= self.min_post < 0.5 or not 0 < self.posterior_scale <= 1:
            raise ValueError("min-post must be in [0, 0.5), posterior-scale in (0, 1]")
        if self.left_context < 0 or self.right_context < 0:
            raise ValueError("splice contexts must be >= 0")


@dataclass(frozen=True, eq=False)
class DiagGmm:
    """``final.dubm``: weights, means times inverse variances, inverse variances (float)."""

    weights: np.ndarray
    means_invvars: np.ndarray
    inv_vars: np.ndarray

    @property
    def gconsts(self) -> np.ndarray:
        """``ComputeGconsts``: the log-likelihood of each Gaussian at zero."""
        w = self.weights.astype(np.float64)
        iv = self.inv_vars.astype(np.float64)
        mi = self.means_invvars.astype(np.float64)
        with np.errstate(divide="ignore"):
            g = np.log(w) - 0.5 * LOG_2PI * iv.shape[1] + \
                (0.5 * np.log(iv) - 0.5 * mi * mi / iv).sum(axis=1)
        return g.astype(F32)

    def log_likelihoods(self, x: np.ndarray) -> np.ndarray:
        return self.gconsts + x @ self.means_invvars.T - F32(0.5) * ((x * x) @ self.inv_vars.T)


@dataclass(frozen=True, eq=False)
class IvectorExtractor:
    """``final.ie``: per Gaussian the projection M (feat x ivector) and inverse covariance;
    ``sigma_inv_m`` and ``u`` (M' Sigma^-1 M) are Kaldi's derived variables, in double."""

    m: np.ndarray
    sigma_inv: np.ndarray
    prior_offset: float

    @property
    def ivector_dim(self) -> int:
        return self.m.shape[2]

    @property
    def feat_dim(self) -> int:
        return self.m.shape[1]

    @cached_property
    def derived(self) -> tuple[np.ndarray, np.ndarray]:
        """``ComputeDerivedVars``, once per extractor."""
        sim = np.matmul(self.sigma_inv, self.m)  # G x D x I
        return sim, np.matmul(self.m.transpose(0, 2, 1), sim)  # G x I x I


@dataclass(frozen=True, eq=False)
class OnlineIvectorExtractor:
    """Everything ``OnlineIvectorExtractionInfo`` holds, read from a model's files."""

    options: OnlineIvectorOptions
    cmvn_options: OnlineCmvnOptions
    lda: np.ndarray
    global_cmvn_stats: np.ndarray
    ubm: DiagGmm
    extractor: IvectorExtractor
    source: str = ""

    @property
    def ivector_dim(self) -> int:
        return self.extractor.ivector_dim

    @property
    def feat_dim(self) -> int:
        return self.global_cmvn_stats.shape[1] - 1

    def check(self) -> None:
        """``OnlineIvectorExtractionInfo::Check``: the files fit together."""
        o, dim = self.options, self.feat_dim
        spliced = dim * (1 + o.left_context + o.right_context)
        problems = []
        if self.global_cmvn_stats.shape[0] != 2 or dim < 1:
            problems.append(f"global_cmvn.stats is {self.global_cmvn_stats.shape}, not 2 rows")
        if self.lda.shape[1] not in (spliced, spliced + 1):
            problems.append(f"final.mat has {self.lda.shape[1]} columns, splicing {dim}-dim "
                            f"features +-{o.left_context}/{o.right_context} gives {spliced}")
        if not self.lda.shape[0] == self.ubm.means_invvars.shape[1] == self.extractor.feat_dim:
            problems.append(f"final.mat gives {self.lda.shape[0]} dims, final.dubm has "
                            f"{self.ubm.means_invvars.shape[1]}, "
                            f"final.ie {self.extractor.feat_dim}")
        if self.ubm.weights.shape[0] != self.extractor.m.shape[0]:
            problems.append(f"final.dubm has {self.ubm.weights.shape[0]} Gaussians, final.ie "
                            f"{self.extractor.m.shape[0]}")
        if problems:
            raise FormatError(f"{self.source}: the i-vector extractor's files do not fit: "
                              + "; ".join(problems))

    def extract(self, feats: np.ndarray) -> np.ndarray:
        """One i-vector every ``ivector_period`` frames (num_ivectors x ivector_dim, float32),
        as ``ivector-extract-online2`` writes them (without ``--repeat``)."""
        feats = np.asarray(feats, dtype=F32)
        dim = self.feat_dim
        if feats.ndim == 2 and feats.shape[1] == dim + 3:
            feats = feats[:, :dim]  # Kaldi's rule: three more dims are pitch, dropped
        if feats.ndim != 2 or feats.shape[1] != dim:
            raise FormatError(f"{self.source}: the i-vector extractor takes {dim}-dim "
                              f"features, got an array of shape {feats.shape}")
        if feats.shape[0] == 0:
            return np.zeros((0, self.ivector_dim), F32)
        o = self.options
        normalized = self._lda(online_cmvn(feats, self.global_cmvn_stats, self.cmvn_options))
        raw = normalized if o.online_cmvn_iextractor else self._lda(feats)
        post = gaussian_posteriors(self.ubm.log_likelihoods(normalized), o.num_gselect,
                                   o.min_post) * F32(o.posterior_scale)
        return self._estimate(raw, post)

    def _lda(self, feats: np.ndarray) -> np.ndarray:
        o = self.options
        spliced = splice_feats(feats, o.left_context, o.right_context)
        lin = self.lda[:, :spliced.shape[1]]
        y = spliced @ lin.T
        return y + self.lda[:, -1] if self.lda.shape[1] > spliced.shape[1] else y

    def _estimate(self, feats: np.ndarray, post: np.ndarray) -> np.ndarray:
        o, ex = self.options, self.extractor
        sim, u = ex.derived
        dim = ex.ivector_dim
        linear = np.zeros(dim)
        linear[0] = ex.prior_offset
        quadratic = np.eye(dim)
        num_frames = 0.0
        ivector = np.zeros(dim)
        ivector[0] = ex.prior_offset
        out = []
        prev = 0
        for t in range(0, feats.shape[0], o.ivector_period):
            p = post[prev:t + 1]  # the frames since the last i-vector, this one included
            weights = p.T.astype(np.float64) @ feats[prev:t + 1].astype(np.float64)
            prev = t + 1
            linear += np.einsum("gdi,gd->i", sim, weights)
            gauss = p.sum(axis=0, dtype=F32).astype(np.float64)  # float, as GaussInfo
            quadratic += np.tensordot(gauss, u, axes=1)
            total = float(gauss.sum())
            if o.max_count > 0:
                change = (max(num_frames + total, o.max_count) -
                          max(num_frames, o.max_count)) / o.max_count
                linear[0] += ex.prior_offset * change
                quadratic[np.diag_indices(dim)] += change
            num_frames += total
            if num_frames > 0:
                if ivector[0] == 0.0:
                    ivector[0] = ex.prior_offset
                ivector = linear_cgd(quadratic, linear, ivector, o.num_cg_iters)
            else:
                ivector = np.zeros(dim)
                ivector[0] = ex.prior_offset
            row = ivector.astype(F32)
            row[0] = F32(float(row[0]) - ex.prior_offset)
            out.append(row)
        return np.stack(out)


def online_cmvn(feats: np.ndarray, global_stats: np.ndarray, opts: OnlineCmvnOptions
                ) -> np.ndarray:
    """``OnlineCmvn`` for the first utterance of a speaker (nothing carried over): the front
    end's apply-cmvn-online with no speaker statistics."""
    if global_stats[0, feats.shape[1]] <= 0:
        raise FormatError("global_cmvn.stats has a frame count of zero")
    return apply_cmvn_online(feats, opts, global_stats)


def gaussian_posteriors(log_likes: np.ndarray, num_gselect: int, min_post: float
                        ) -> np.ndarray:
    """``VectorToPosteriorEntry`` on every frame, as a dense frames x Gaussians matrix."""
    n, g = log_likes.shape
    k = min(num_gselect, g)
    order = np.argsort(-log_likes, axis=1, kind="stable")[:, :k]
    likes = np.take_along_axis(log_likes, order, axis=1)
    best = log_likes.max(axis=1, keepdims=True)
    keep = likes > best + F32(math.log(min_post)) if min_post > 0 else np.ones_like(likes, bool)
    post = np.where(keep, np.exp(likes - best), F32(0)).astype(F32)
    total = post.sum(axis=1, dtype=F32)
    cutoff = F32(min_post) * total
    popping = np.ones(n, bool)
    for j in range(k - 1, 0, -1):  # pop from the back while below the cutoff
        drop = popping & keep[:, j] & (post[:, j] < cutoff)
        popping &= drop | ~keep[:, j]
        total = np.where(drop, total - post[:, j], total)
        post[drop, j] = 0
    post *= (F32(1) / total)[:, None]
    dense = np.zeros((n, g), F32)
    np.put_along_axis(dense, order, post, axis=1)
    return dense


def linear_cgd(a: np.ndarray, b: np.ndarray, x: np.ndarray, max_iters: int) -> np.ndarray:
    """Kaldi's ``LinearCgd`` (``matrix/optimization.cc``) with ``max_error`` 0 and residual
    recomputation at a factor of 0.01, in double: ``max_iters`` steps towards A x = b."""
    x = x.copy()
    p = b - a @ x
    r = -p
    r_cur = r_initial = r_recompute = float(r @ r)
    m = a.shape[0]
    k = 0
    while k < m + 5 and k != max_iters:
        ap = a @ p
        alpha = -float(p @ r) / float(p @ ap)
        x += alpha * p
        r += alpha * ap
        r_next = float(r @ r)
        if r_next < 1e-4 * r_recompute or r_next > 1e4 * r_recompute:
            r = a @ x - b
            r_next = r_recompute = float(r @ r)
        if r_next <= np.finfo(np.float64).tiny:
            break
        p = p * (r_next / r_cur) - r
        r_cur = r_next
        k += 1
    if r_cur > r_initial and r_cur > r_initial + 1.0e-10 * float(b @ b):
        return np.linalg.solve(a, b)  # Kaldi then solves exactly
    return x


# -- reading ---------------------------------------------------------------------------------

def read_diag_gmm(path: str | os.PathLike) -> DiagGmm:
    s = KaldiStream.open(path)
    if s.read_token() not in ("<DiagGMM>", "<DiagGMMBegin>"):
        raise s.fail("expected <DiagGMM> (a diagonal GMM, final.dubm)")
    if s.peek_token() == "<GCONSTS>":
        s.read_token()
        s.read_vector()  # recomputed, as Kaldi does
    s.expect_token("<WEIGHTS>")
    weights = s.read_vector()
    s.expect_token("<MEANS_INVVARS>")
    means_invvars = s.read_matrix()
    s.expect_token("<INV_VARS>")
    inv_vars = s.read_matrix()
    if s.read_token() not in ("</DiagGMM>", "<DiagGMMEnd>"):
        raise s.fail("expected </DiagGMM>")
    g = weights.shape[0]
    if g == 0 or means_invvars.shape != inv_vars.shape or means_invvars.shape[0] != g or \
            np.any(weights < 0) or np.any(inv_vars <= 0):
        raise FormatError(f"{path}: inconsistent diagonal GMM ({g} weights, means "
                          f"{means_invvars.shape}, inverse variances {inv_vars.shape})")
    return DiagGmm(weights, means_invvars, inv_vars)


def read_ivector_extractor(path: str | os.PathLike) -> IvectorExtractor:
    s = KaldiStream.open(path)
    s.expect_token("<IvectorExtractor>")
    s.expect_token("<w>")
    w = s.read_matrix(double=True)
    s.expect_token("<w_vec>")
    s.read_vector(double=True)
    if w.size:
        raise FormatError(f"{path}: an i-vector extractor with i-vector-dependent weights, "
                          f"which online extraction (and deepbrain) does not support")
    s.expect_token("<M>")
    size = s.read_int()
    if not 0 < size <= 1 << 16:
        raise s.fail(f"implausible number of Gaussians {size}")
    m = [s.read_matrix(double=True) for _ in range(size)]
    s.expect_token("<SigmaInv>")
    sigma_inv = [s.read_packed_matrix() for _ in range(size)]
    s.expect_token("<IvectorOffset>")
    offset = s.read_float()
    s.expect_token("</IvectorExtractor>")
    if len({x.shape for x in m}) != 1 or m[0].size == 0 or \
            {x.shape for x in sigma_inv} != {(m[0].shape[0],) * 2}:
        raise FormatError(f"{path}: projections or covariances of different sizes")
    return IvectorExtractor(np.stack(m), np.stack(sigma_inv), offset)


def read_cmvn_stats(path: str | os.PathLike) -> np.ndarray:
    """A global CMVN statistics matrix (2 x dim+1, double), binary or text."""
    s = KaldiStream.open(path)
    stats = s.read_matrix(double=True)
    if stats.ndim != 2 or stats.shape[0] != 2 or stats.shape[1] < 2 or not s.at_end():
        raise FormatError(f"{path}: expected CMVN statistics (2 x dim+1), found "
                          f"{stats.shape}")
    return stats


def read_lda(path: str | os.PathLike) -> np.ndarray:
    return read_matrix_file(Path(path), "the i-vector extractor's LDA matrix")


def read_online_ivectors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """i-vectors made elsewhere (``--ivectors``): a Kaldi ark or scp of matrices, one row every
    ``ivector-period`` frames per utterance, as ivector-extract-online2 writes them."""
    import kaldiio

    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{p}: no such file (online i-vectors, an ark or scp of matrices)")
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
        first = head.split(b"\n", 1)[0].split()
        is_scp = len(first) == 2 and b"\0B" not in first[1] and not first[1].startswith(b"[")
        table = kaldiio.load_scp(str(p)) if is_scp else kaldiio.load_ark(str(p))
        out = {str(k): np.asarray(v) for k, v in dict(table).items()}
    except Exception as e:  # kaldiio raises whatever its parser hits on bad bytes
        raise FormatError(f"{p}: not a readable Kaldi ark/scp of i-vectors "
                          f"({type(e).__name__}: {e})") from None
    for utt, m in out.items():
        if m.ndim != 2 or m.shape[0] == 0 or not np.all(np.isfinite(m)):
            raise FormatError(f"{p}: i-vectors of {utt} are not a non-empty finite matrix "
                              f"(shape {m.shape}); expected one row every ivector-period frames")
        out[utt] = m.astype(F32)
    if not out:
        raise FormatError(f"{p}: holds no i-vectors")
    return out
