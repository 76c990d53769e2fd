"""A PNG of a layer map: units coloured by preferred phone, regions labelled (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeepbrainError
from ..layermap import LayerMap

SPREAD_TO_LABEL = 0.3  # median distance of a region's units to its centroid (map is 1.8 wide)


def plot_map(lmap: LayerMap, preferred: np.ndarray, names: tuple[str, ...], regions: dict,
             path: Path, title: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DeepbrainError("--plot needs matplotlib: pip install -e '.[maps]'") from None
    palette = [plt.get_cmap(m)(i) for m in ("tab20", "tab20b", "tab20c") for i in range(20)]
    colours = np.array([palette[i % len(palette)] for i in range(len(names))])
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    ax.triplot(lmap.vertices[:, 0], lmap.vertices[:, 1], lmap.triangles, color="#d0d0d0",
               linewidth=0.3, zorder=1)
    ax.scatter(lmap.vertices[:, 0], lmap.vertices[:, 1], s=9, c=colours[preferred],
               edgecolors="none", zorder=2)
    for c, (name, region) in enumerate(regions.items()):
        if region["label"] is None or len(region["units"]) < 5:
            continue
        # Label a region only where it is one place: a scattered phone's centroid would put
        # its name among other phones' units.
        spread = np.median(np.linalg.norm(lmap.vertices[np.array(region["units"]) - 1]
                                          - region["label"], axis=1))
        if spread <= SPREAD_TO_LABEL:
            ax.text(*region["label"], name, fontsize=11, weight="bold", ha="center",
                    va="center", zorder=3, color=colours[c] * [0.6, 0.6, 0.6, 1],
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ax.set_title(title + "\n(names mark phones whose units sit together)", fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def psi_order(psi: np.ndarray):
    """(row order, column order, row tree, column tree) of a units x phones PSI matrix:
    average-linkage clustering of the PSI profiles (-1, unknown, counts as 0); a tree is
    None for fewer than two rows (columns)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    known = np.where(np.asarray(psi) < 0, 0.0, np.asarray(psi, np.float64))
    trees = [linkage(m, method="average", metric="euclidean") if m.shape[0] >= 2 else None
             for m in (known, known.T)]
    orders = [leaves_list(t) if t is not None else np.arange(m.shape[0])
              for t, m in zip(trees, (known, known.T))]
    return orders[0], orders[1], trees[0], trees[1]


def plot_psi(psi: np.ndarray, names: tuple[str, ...], path: Path, title: str) -> None:
    """The units x phones PSI matrix as a heat map with both axes hierarchically clustered
    (dendrograms beside the axes), as Mesgarani et al. (2014) and Nagamine et al. (2015)
    show it. -1 (a phone with too few frames) is grey."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DeepbrainError("--plot needs matplotlib: pip install -e '.[maps]'") from None
    from scipy.cluster.hierarchy import dendrogram

    values = np.asarray(psi, np.float64)
    row_order, order, rows, cols = psi_order(values)
    shown = np.ma.masked_less(values[np.ix_(row_order, order)], 0)
    fig = plt.figure(figsize=(10, 9), dpi=100)
    heat = fig.add_axes([0.17, 0.08, 0.68, 0.72])
    top = fig.add_axes([0.17, 0.81, 0.68, 0.09])
    left = fig.add_axes([0.05, 0.08, 0.11, 0.72])
    bar = fig.add_axes([0.87, 0.08, 0.02, 0.72])
    cmap = plt.get_cmap("viridis").with_extremes(bad="#9a9a9a")
    image = heat.imshow(shown, aspect="auto", interpolation="nearest", cmap=cmap,
                        vmin=0, vmax=max(len(names) - 1, 1))
    heat.set_xticks(np.arange(len(names)))
    heat.set_xticklabels([names[i] for i in order], fontsize=7, rotation=90)
    heat.set_yticks([])
    heat.set_xlabel("phones (clustered)")
    for ax, link, orient in ((top, cols, "top"), (left, rows, "left")):
        ax.set_axis_off()
        if link is not None:
            dendrogram(link, ax=ax, orientation=orient, no_labels=True,
                       color_threshold=0, above_threshold_color="#555555")
    if rows is not None:
        left.invert_yaxis()   # the first leaf beside the heat map's first (top) row
    left.set_title(f"{values.shape[0]} units\n(clustered)", fontsize=8)
    fig.colorbar(image, cax=bar, label="PSI (other phones it beats)")
    fig.suptitle(title, fontsize=11)
    fig.savefig(path)
    plt.close(fig)
