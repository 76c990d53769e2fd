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
