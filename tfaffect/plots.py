"""Plots people would rather look at than read: valence/arousal over time and the 2-D VA histogram.

Matplotlib with the non-interactive Agg backend; every function writes a PNG atomically and returns
its path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.subplots(*args, **kwargs)


def _save(plt, fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def va_over_time(path, time, predicted: np.ndarray, truth: np.ndarray | None = None, *,
                 title: str = "", xlabel: str = "frame", flagged: np.ndarray | None = None) -> Path:
    """Valence (top) and arousal (bottom) over time; ``predicted``/``truth`` are ``[N, 2]``.

    ``flagged`` (bool ``[N]``) shades frames whose prediction was interpolated (no face found).
    """
    plt, (fig, axes) = _figure(2, 1, figsize=(10, 4.8), sharex=True)
    time = np.asarray(time)
    for k, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        if truth is not None:
            ax.plot(time, truth[:, k], color="0.25", lw=1.2, label="annotation")
        ax.plot(time, predicted[:, k], color="tab:red" if k == 0 else "tab:blue", lw=1.2, label="prediction")
        if flagged is not None and np.any(flagged):
            ax.fill_between(time, -1, 1, where=np.asarray(flagged), color="0.85", step="mid",
                            label="no face (interpolated)")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_ylabel(name)
        ax.legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1].set_xlabel(xlabel)
    if title:
        axes[0].set_title(title)
    return _save(plt, fig, path)


def va_histogram(path, values: np.ndarray, *, title: str = "", bins: int = 40) -> Path:
    """2-D histogram of (valence, arousal) pairs on [-1, 1]^2 (as Kollias 2019, Fig. 15), log colour.

    Pairs outside the square are counted in the title, not drawn (an untrained linear output can lie
    far outside it).
    """
    import matplotlib.colors

    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    inside = (np.abs(values) <= 1).all(axis=1)
    counts, edges, _ = np.histogram2d(values[inside, 0], values[inside, 1], bins=bins, range=[[-1, 1], [-1, 1]])
    plt, (fig, ax) = _figure(figsize=(4.6, 4))
    norm = matplotlib.colors.LogNorm(vmin=1, vmax=max(counts.max(), 1))
    image = ax.pcolormesh(edges, edges, np.ma.masked_equal(counts.T, 0), norm=norm, cmap="viridis")
    fig.colorbar(image, ax=ax, label="frames")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    outside = len(values) - int(inside.sum())
    ax.set_title((title or f"{len(values)} frames") + (f"\n({outside} outside [-1, 1], not drawn)" if outside else ""))
    return _save(plt, fig, path)
