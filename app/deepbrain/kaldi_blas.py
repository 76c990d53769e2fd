"""Float32 sums in the order Kaldi's BLAS adds them, vectorised with numpy.

Kaldi's ``VecVec``, ``VectorBase::Sum`` and ``AddMatVec`` call cblas; on Linux that is
OpenBLAS (0.3.x on x86-64 picks its Haswell kernels for Haswell and Zen cores). Float32 sums
depend on their order by an ulp or so, which is harmless for most features but not for pitch,
whose Viterbi search turns an ulp into a different lag on a near-tie. These functions give
the bits OpenBLAS gives, from its source (``kernel/x86_64/sdot.c``,
``sdot_microk_haswell-2.c``, ``sgemv_t_4.c``, ``sgemv_t_microk_haswell-4.c``):

- ``sdot``, unit strides: 32 float32 lanes, each a chain of fused multiply-adds over every
  32nd product; the lanes are added pairwise in a fixed tree; the last ``n % 32`` products
  are rounded to float and summed in double, then the tree's result is added, and the double
  is rounded to float.
- ``Sum`` is ``sdot`` against a stride-0 one: pairs of elements added in float, the pairs
  summed in double.
- ``saxpy`` (``y += alpha x``): fused multiply-adds for the first ``n & -32`` elements, plain
  float for the rest. ``AddVecVec`` (an ``sgbmv`` with no bands) ends in one when OpenBLAS
  runs more than one thread, as it does by default on a multi-core machine; with
  ``OPENBLAS_NUM_THREADS=1`` Kaldi's ``AddVecVec`` rounds the product first instead.
- ``sgemv`` (row-major, no transpose: ``y = M v``) is OpenBLAS's transposed kernel: the first
  ``4 * (n // 4)`` products in eight lanes of fused multiply-adds, folded 8 -> 4 -> 2 -> 1,
  then the last ``n % 4`` products added in plain float.

A fused multiply-add is emulated exactly: the product of two floats is exact in double, and
the double sum is rounded to odd before the rounding to float, so there is one rounding.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
F64 = np.float64


def fma(product: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """float32 fma(a, b, acc) given the exact double ``product`` a*b: one rounding.

    The double sum rounds once more than the fused operation; that can change the float
    only where the double lands exactly halfway between two floats (its 29 low mantissa
    bits 1000...0) while the exact sum did not. Those few are nudged off the midpoint
    towards the exact sum (TwoSum's error term)."""
    s = product + acc  # float64
    half = (s.view(np.int64) & 0x1FFFFFFF) == 0x10000000
    if half.any():
        k = np.nonzero(half)
        p, a, t = np.broadcast_to(product, s.shape)[k], np.broadcast_to(acc, s.shape)[k], s[k]
        bb = t - p
        err = (p - (t - bb)) + (a - bb)
        s[k] = np.where(err == 0, t, np.nextafter(t, np.where(err > 0, np.inf, -np.inf)))
    return s.astype(F32)


def _fold32(acc: np.ndarray) -> np.ndarray:
    """sdot_kernel_16's reduction of its four 8-lane accumulators."""
    a = acc.reshape(acc.shape[:-1] + (4, 8))
    c = a[..., 4:] + a[..., :4]                        # vextractf128, vaddps
    c = (c[..., 0, :] + c[..., 1, :]) + (c[..., 2, :] + c[..., 3, :])
    return (c[..., 0] + c[..., 1]) + (c[..., 2] + c[..., 3])   # vhaddps twice


def sdot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cblas_sdot(n, x, 1, y, 1) over the last axis (broadcasting the others)."""
    x, y = np.asarray(x, F32), np.asarray(y, F32)
    n = x.shape[-1]
    n1 = n & ~31
    shape = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    mydot = np.zeros(shape, F32)
    if n1:
        acc = (x[..., :32].astype(F64) * y[..., :32]).astype(F32)
        for b in range(32, n1, 32):
            acc = fma(x[..., b:b + 32].astype(F64) * y[..., b:b + 32], acc)
        mydot = _fold32(acc)
    dot = np.zeros(shape, F64)
    for i in range(n1, n):
        dot = dot + (x[..., i] * y[..., i]).astype(F64)
    return (dot + mydot.astype(F64)).astype(F32)


def ssum(x: np.ndarray) -> np.ndarray:
    """Kaldi's VectorBase::Sum(), cblas_sdot(n, x, 1, &one, 0), over the last axis."""
    x = np.asarray(x, F32)
    n = x.shape[-1]
    pairs = (x[..., 0:n - 1:2] + x[..., 1:n:2]).astype(F64)
    dot = np.cumsum(pairs, axis=-1)[..., -1] if pairs.shape[-1] else np.zeros(x.shape[:-1])
    if n % 2:
        dot = dot + x[..., n - 1].astype(F64)
    return np.asarray(dot).astype(F32)


def saxpy(alpha: F32, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cblas_saxpy(n, alpha, x, 1, y, 1): y + alpha * x, fused where the kernel fuses."""
    x, y = np.asarray(x, F32), np.asarray(y, F32)
    n1 = x.shape[-1] & ~31
    out = np.empty_like(y)
    out[..., :n1] = fma(x[..., :n1].astype(F64) * float(alpha), y[..., :n1])
    out[..., n1:] = y[..., n1:] + F32(alpha) * x[..., n1:]
    return out


def sgemv_t_rows(mat: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each ``mat[..., :]`` row times ``w`` (broadcast over leading axes) as Kaldi's
    ``AddMatVec(1.0, M, kNoTrans, w, 0.0)`` gets it from OpenBLAS's sgemv_t kernel.

    Exact for rows of up to 11 elements (the pitch NCCF resampler has 10 or 11 with Kaldi's
    upsample-filter-width of 5). From 12 on, the 4x2 and 4x1 kernels OpenBLAS uses for the
    last ``n % 4`` rows of each thread's share do not fuse one step, so those rows can
    differ by an ulp (measured: NCCF within 3e-8, pitch unchanged, for widths 7 to 10)."""
    mat, w = np.asarray(mat, F32), np.asarray(w, F32)
    m = mat.shape[-1]
    m3 = m & 3
    m2 = m - m3
    y = np.zeros(np.broadcast_shapes(mat.shape[:-1], w.shape[:-1]), F32)
    if m2:
        p = mat[..., :m2].astype(F64) * w[..., :m2]
        acc = np.zeros(p.shape[:-1] + (8,), F32)
        i = 0
        if m2 & 4:
            acc[..., :4] = p[..., :4].astype(F32)
            i = 4
        if m2 & 8:
            acc = fma(p[..., i:i + 8], acc)
            i += 8
        while i < m2:
            acc = fma(p[..., i:i + 8], acc)
            acc = fma(p[..., i + 8:i + 16], acc)
            i += 16
        v = acc[..., 4:] + acc[..., :4]
        y = y + ((v[..., 0] + v[..., 1]) + (v[..., 2] + v[..., 3]))
    if m3:
        tail = mat[..., m2:] * w[..., m2:]
        t = tail[..., 0]
        for k in range(1, m3):
            t = t + tail[..., k]
        y = y + t
    return y.astype(F32)
