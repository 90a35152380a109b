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
    from tfaffect.io import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # a temporary name no *.png glob matches, orphans cleaned
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def y_limits(values: np.ndarray) -> tuple[float, float]:
    """y-axis limits that show [-1, 1] and every finite value outside it, with a 2.5 % margin."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    low, high = min(-1.0, values.min(initial=0.0)), max(1.0, values.max(initial=0.0))
    margin = 0.025 * (high - low)
    return low - margin, high + margin


def va_over_time(path, time, predicted: np.ndarray, truth: np.ndarray | None = None, *,
                 title: str = "", xlabel: str = "frame", flagged: np.ndarray | None = None) -> Path:
    """Valence (top) and arousal (bottom) over time; ``predicted``/``truth`` are ``[N, 2]``.

    The y axis shows [-1, 1] and grows to show every prediction outside it (dashed lines mark +-1
    then); with ``truth`` each panel's title gives the CCC over the finite frames drawn. The legend
    sits outside the data. ``flagged`` (bool ``[N]``) shades frames whose prediction was
    interpolated (no face found).
    """
    from tfaffect.metrics import ccc

    plt, (fig, axes) = _figure(2, 1, figsize=(11, 4.8), sharex=True)
    time = np.asarray(time)
    predicted = np.asarray(predicted, np.float64)
    for k, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        if truth is not None:
            ax.plot(time, truth[:, k], color="0.25", lw=1.2, label="annotation")
            finite = np.isfinite(predicted[:, k]) & np.isfinite(truth[:, k])
            if finite.any():
                ax.set_title(f"{name}: CCC {float(ccc(truth[finite, k:k + 1], predicted[finite, k:k + 1])[0]):.3f}",
                             fontsize=9, loc="left")
        ax.plot(time, predicted[:, k], color="tab:red" if k == 0 else "tab:blue", lw=1.2, label="prediction")
        if flagged is not None and np.any(flagged):
            ax.fill_between(time, -1, 1, where=np.asarray(flagged), color="0.85", step="mid",
                            label="no face (interpolated)")
        low, high = y_limits(predicted[:, k])
        if low < -1.05 or high > 1.05:
            for bound in (-1, 1):
                ax.axhline(bound, color="0.4", lw=0.8, ls="--")
        ax.set_ylim(low, high)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_ylabel(name)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    axes[-1].set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
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
