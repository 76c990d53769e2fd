"""From activity patterns to a map: t-SNE, axes scaled to [-0.9, 0.9], Delaunay triangles.

The paper's method (Gupta & Sim 2016): units with similar activity patterns over phones
sit close together. t-SNE is scikit-learn's (Barnes-Hut, random initialisation from the seed:
with PCA initialisation the seed would change nothing; on the seed system's layer-1 patterns
both keep the same share of neighbours, 0.39-0.40), so the same patterns and seed give the
same map and another seed another, equally good one. It runs ``ITERATIONS`` steps (250
early-exaggerated, then 250): on the demo model's layers, KL divergence within 2 % and the
same neighbour keeping as scikit-learn's default of 1000, in half the time. Delaunay is
scipy's Qhull with joggling (``QJ``), which keeps every unit a vertex even where two units'
patterns coincide.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import DeepbrainError

SCALE = 0.9
MIN_UNITS = 4  # Qhull's joggled Delaunay needs 4 points to start
ITERATIONS = 500  # t-SNE steps (build-map --tsne-iterations)
MIN_ITERATIONS = 250  # scikit-learn's least: the early exaggeration alone takes 250


def tsne_points(patterns: np.ndarray, seed: int, perplexity: float = 30.0,
                iterations: int = ITERATIONS) -> np.ndarray:
    """2-D t-SNE of the rows of ``patterns`` (units x phones, NaN columns ignored)."""
    x = patterns[:, ~np.isnan(patterns).any(axis=0)].astype(np.float64)
    n = x.shape[0]
    if n < MIN_UNITS:
        raise DeepbrainError(f"{n} unit(s): a map needs at least {MIN_UNITS}")
    if n <= 3 * perplexity:
        raise DeepbrainError(f"{n} units are too few for t-SNE with perplexity {perplexity:g} "
                             f"(it needs more than {3 * perplexity:g}); pass --perplexity "
                             f"{largest_perplexity(n)} or less")
    if x.shape[1] < 2:
        raise DeepbrainError(f"only {x.shape[1]} phone(s) with frames: no map can be made")
    return scale_axes(make_tsne(seed, perplexity, iterations).fit_transform(x))


def make_tsne(seed: int, perplexity: float, iterations: int, **options):
    """scikit-learn's Barnes-Hut t-SNE to 2-D, random start from ``seed``, one thread."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise DeepbrainError("map building needs scikit-learn: pip install -e '.[maps]'"
                             ) from None
    return TSNE(n_components=2, perplexity=perplexity, init="random", learning_rate="auto",
                random_state=seed, method="barnes_hut", n_jobs=1, max_iter=iterations,
                **options)


def largest_perplexity(n: int) -> int:
    """The largest whole perplexity t-SNE takes for ``n`` >= 4 units (it needs n > 3p)."""
    return (n - 1) // 3


@contextmanager
def one_thread():
    """BLAS and OpenMP (scikit-learn's t-SNE gradient) limited to one thread, for a worker
    process that has a core to itself. threadpoolctl comes with scikit-learn; without it
    the limit is skipped."""
    try:
        import sklearn.manifold  # noqa: F401  (loads the OpenMP runtime it uses)
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def scale_axes(points: np.ndarray) -> np.ndarray:
    """Each axis on its own to [-0.9, 0.9], as the seed's maps are."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (points - lo) / span * (2 * SCALE) - SCALE


def delaunay(points: np.ndarray) -> np.ndarray:
    """Triangles (0-based vertex triples) covering every point, none of zero area."""
    from scipy.spatial import Delaunay

    tri = Delaunay(points, qhull_options="QJ").simplices.astype(np.int64)
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) -
                        (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
    tri = tri[area > 1e-12]
    missing = np.setdiff1d(np.arange(points.shape[0]), tri)
    if missing.size:  # an invariant of joggled Delaunay; say so if it ever breaks
        raise DeepbrainError(f"the triangulation left out {missing.size} unit(s) (first: "
                             f"{int(missing[0]) + 1}); try another --seed")
    return tri


def neighbour_keeping(patterns: np.ndarray, points: np.ndarray, k: int = 10) -> float:
    """Mean share of each unit's k nearest neighbours in pattern space that are also among
    its k nearest on the map (1.0: the map keeps every neighbourhood)."""
    from scipy.spatial import cKDTree

    x = patterns[:, ~np.isnan(patterns).any(axis=0)]
    k = min(k, x.shape[0] - 1)
    near_x = cKDTree(x).query(x, k + 1)[1][:, 1:]
    near_m = cKDTree(points).query(points, k + 1)[1][:, 1:]
    shared = [np.intersect1d(a, b).size for a, b in zip(near_x, near_m)]
    return float(np.mean(shared) / k)
