"""Plots people would rather look at than read: valence/arousal over time (one video, or every video in a
grid; with an ANCLaF-SA model's attention weights under it, :func:`va_attention`), the 2-D VA histogram
(predicted beside annotated) and the learning curve of a training run.

Matplotlib with the non-interactive Agg backend; every function writes a PNG atomically and returns
its path (or paths). Conventions shared by the figures: the y axis of a valence/arousal trace shows
[-1, 1] and grows to show every value outside it; each trace's title gives the CCC against the
annotation; frames without a detected face (whose prediction was interpolated) are shaded; legends sit
outside the data.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

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


NO_FACE = "no face (interpolated)"
"""Legend label of the shading that marks frames without a detected face."""
GRID_COLUMNS = 4
GRID_PER_PAGE = 12
"""Videos per page of :func:`va_grid` (3 rows of 4; each video a valence and an arousal panel). Chosen: the
panels stay about 3 x 1 inches, readable at 110 dpi."""
GRID_MAX_VIDEOS = 96
"""Videos drawn by :func:`va_grid` at most (8 pages); the titles say when there were more. Chosen."""


class Trace(NamedTuple):
    """One video's valence/arousal over time: ``predicted`` and ``truth`` ``[N, 2]`` (``truth`` may be
    ``None``), ``flagged`` bool ``[N]`` (no face: interpolated) or ``None``."""
    name: str
    time: np.ndarray
    predicted: np.ndarray
    truth: Optional[np.ndarray] = None
    flagged: Optional[np.ndarray] = None


def trace_ccc(trace: Trace, k: int) -> Optional[float]:
    """CCC of dimension ``k`` of ``trace`` over its frames with a face and finite values; ``None``
    without annotation or frames."""
    from tfaffect.metrics import ccc

    if trace.truth is None:
        return None
    predicted, truth = np.asarray(trace.predicted, np.float64)[:, k], np.asarray(trace.truth, np.float64)[:, k]
    keep = np.isfinite(predicted) & np.isfinite(truth)
    if trace.flagged is not None:
        keep &= ~np.asarray(trace.flagged, bool)
    if not keep.any():
        return None
    return float(ccc(truth[keep, None], predicted[keep, None])[0])


def _draw_dimension(ax, trace: Trace, k: int, *, lw: float = 1.2) -> None:
    """Dimension ``k`` (0 valence, 1 arousal) of ``trace`` on ``ax``: annotation, prediction, no-face
    shading, y limits that show every prediction (dashed lines at +-1 when they grow), the zero line."""
    time = np.asarray(trace.time)
    predicted = np.asarray(trace.predicted, np.float64)[:, k]
    if trace.truth is not None:
        ax.plot(time, np.asarray(trace.truth, np.float64)[:, k], color="0.25", lw=lw, label="annotation")
    ax.plot(time, predicted, color="tab:red" if k == 0 else "tab:blue", lw=lw, label="prediction")
    if trace.flagged is not None and np.any(trace.flagged):
        ax.fill_between(time, 0, 1, where=np.asarray(trace.flagged, bool), color="0.85", step="mid",
                        transform=ax.get_xaxis_transform(), label=NO_FACE)
    low, high = y_limits(predicted)
    if low < -1.05 or high > 1.05:
        for bound in (-1, 1):
            ax.axhline(bound, color="0.4", lw=0.8, ls="--")
    ax.set_ylim(low, high)
    ax.axhline(0, color="0.6", lw=0.6)


def _ccc_text(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _va_panels(axes, trace: Trace) -> None:
    """Valence on ``axes[0]``, arousal on ``axes[1]``, each with its CCC in the title when annotated."""
    for k, (ax, name) in enumerate(zip(axes[:2], ("valence", "arousal"))):
        _draw_dimension(ax, trace, k)
        if trace.truth is not None:
            ax.set_title(f"{name}: CCC {_ccc_text(trace_ccc(trace, k))}", fontsize=9, loc="left")
        ax.set_ylabel(name)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)


def va_over_time(path, time, predicted: np.ndarray, truth: np.ndarray | None = None, *,
                 title: str = "", xlabel: str = "frame", flagged: np.ndarray | None = None) -> Path:
    """Valence (top) and arousal (bottom) over time; ``predicted``/``truth`` are ``[N, 2]``.

    The y axis shows [-1, 1] and grows to show every prediction outside it (dashed lines mark +-1
    then); with ``truth`` each panel's title gives the CCC over the frames drawn with a face (not
    ``flagged``) and finite values. The legend sits outside the data. ``flagged`` (bool ``[N]``) shades
    frames whose prediction was interpolated (no face found).
    """
    trace = Trace("", time, predicted, truth, flagged)
    plt, (fig, axes) = _figure(2, 1, figsize=(11, 4.8), sharex=True)
    _va_panels(axes, trace)
    axes[-1].set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def va_attention(path, time, predicted: np.ndarray, attention: np.ndarray, truth: np.ndarray | None = None, *,
                 title: str = "", xlabel: str = "frame", flagged: np.ndarray | None = None) -> Path:
    """Valence and arousal over time (as :func:`va_over_time`) above a heat-map strip of the attention weights
    ``[N, n]`` (an ANCLaF-SA model's, oldest frame first): column = frame t, rows the weights of frames t - n (top)
    .. t - 1 (bottom), in the style of Aspandi 2021, Figures 3-4 (the weights under the prediction graphs).
    """
    attention = np.asarray(attention, np.float64)
    span = attention.shape[1]
    trace = Trace("", time, predicted, truth, flagged)
    plt, (fig, axes) = _figure(3, 1, figsize=(11, 6.4), sharex=True,
                               gridspec_kw={"height_ratios": [3, 3, max(1.2, min(3.0, 0.25 * span))]})
    _va_panels(axes, trace)
    time = np.asarray(time, np.float64)
    step = float(np.median(np.diff(time))) if len(time) > 1 else 1.0
    finite = attention[np.isfinite(attention)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = axes[2].imshow(attention.T, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=top,
                           extent=(time[0] - step / 2, time[-1] + step / 2, span + 0.5, 0.5))
    axes[2].set_yticks([1, span] if span > 1 else [1], [f"t-{span}", "t-1"] if span > 1 else ["t-1"])
    axes[2].set_ylabel(f"Wa-{span}")
    fig.colorbar(image, ax=axes[2], location="right", fraction=0.03, pad=0.01, label="weight")
    axes[-1].set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def va_grid(folder, traces: Sequence[Trace], *, title: str = "", stem: str = "va_grid",
            per_page: int = GRID_PER_PAGE, max_videos: int = GRID_MAX_VIDEOS) -> list[Path]:
    """Every video of ``traces`` in small panels, ``per_page`` videos a page: ``folder/<stem>_NN.png``.

    Each video is a valence panel over an arousal panel, titled with the video's name and both CCCs;
    frames without a face are shaded; one legend per page, outside the panels. At most ``max_videos``
    are drawn (each page's title says so when there were more). Pages of an earlier call that this one
    does not write again are removed.
    """
    folder = Path(folder)
    shown = list(traces)[:max_videos]
    pages = max(1, math.ceil(len(shown) / per_page))
    written = []
    for page in range(pages):
        chunk = shown[page * per_page:(page + 1) * per_page]
        first = page * per_page
        heading = (f"videos {first + 1}-{first + len(chunk)} of {len(traces)}"
                   + (f" (the first {len(shown)} drawn)" if len(shown) < len(traces) else ""))
        written.append(_grid_page(folder / f"{stem}_{page + 1:02d}.png", chunk,
                                  f"{title}: {heading}" if title else heading))
    for old in folder.glob(f"{stem}_*.png"):
        if old not in written:
            old.unlink()
    return written


def _grid_page(path: Path, traces: Sequence[Trace], title: str) -> Path:
    columns = min(GRID_COLUMNS, max(1, len(traces)))
    rows = max(1, math.ceil(len(traces) / columns))
    plt, (fig, axes) = _figure(2 * rows, columns, figsize=(3.3 * columns, 2.5 * rows + 0.6), squeeze=False,
                               constrained_layout=True)
    for index in range(rows * columns):
        pair = axes[2 * (index // columns):2 * (index // columns) + 2, index % columns]
        if index >= len(traces):
            for ax in pair:
                ax.set_visible(False)
            continue
        trace = traces[index]
        for k, (ax, name) in enumerate(zip(pair, ("v", "a"))):
            _draw_dimension(ax, trace, k, lw=0.8)
            ax.set_ylabel(name, fontsize=7, labelpad=1)
            ax.tick_params(labelsize=6)
        pair[0].tick_params(labelbottom=False)
        if trace.truth is not None:
            scores = f"CCC v {_ccc_text(trace_ccc(trace, 0))}, a {_ccc_text(trace_ccc(trace, 1))}"
        else:
            scores = "no annotation"
        pair[0].set_title(f"{trace.name}\n{scores}", fontsize=7)
    handles = {}
    for ax in axes[:2, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label.replace("prediction", "prediction (valence red, arousal blue)"), handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=len(handles), fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def _histogram_panel(ax, values: np.ndarray, bins: int, norm) -> tuple[Any, str]:
    """A 2-D (valence, arousal) histogram of the finite pairs inside [-1, 1]^2 on ``ax``; return the image
    and the panel's count text (pairs outside the square are counted, not drawn)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    inside = (np.abs(values) <= 1).all(axis=1)
    counts, edges, _ = np.histogram2d(values[inside, 0], values[inside, 1], bins=bins, range=[[-1, 1], [-1, 1]])
    image = ax.pcolormesh(edges, edges, np.ma.masked_equal(counts.T, 0), norm=norm, cmap="viridis")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    outside = len(values) - int(inside.sum())
    return image, f"{len(values)} frames" + (f"\n({outside} outside [-1, 1], not drawn)" if outside else "")


def _histogram_peak(values: np.ndarray, bins: int) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values).all(axis=1) & (np.abs(values) <= 1).all(axis=1)]
    return float(np.histogram2d(values[:, 0], values[:, 1], bins=bins, range=[[-1, 1], [-1, 1]])[0].max(initial=0))


def va_histogram(path, values: np.ndarray, *, title: str = "", bins: int = 40) -> Path:
    """2-D histogram of (valence, arousal) pairs on [-1, 1]^2 (as Kollias 2019, Fig. 15), log colour.

    Pairs outside the square are counted in the title, not drawn (an untrained linear output can lie
    far outside it).
    """
    return va_histograms(path, {title: values}, bins=bins)


def va_histograms(path, panels: dict[str, np.ndarray], *, title: str = "", bins: int = 40) -> Path:
    """2-D (valence, arousal) histograms side by side, one per entry of ``panels`` (its title -> ``[N, 2]``
    pairs), on one log colour scale so they compare, e.g. ``{"predicted": ..., "annotation": ...}``. Pairs
    outside [-1, 1]^2 are counted in each panel's title, not drawn; non-finite pairs are left out."""
    import matplotlib.colors

    plt, (fig, axes) = _figure(1, len(panels), figsize=(4.2 * len(panels) + 0.6, 4), squeeze=False,
                               sharey=True, constrained_layout=True)
    peak = max((_histogram_peak(values, bins) for values in panels.values()), default=1.0)
    norm = matplotlib.colors.LogNorm(vmin=1, vmax=max(peak, 1))
    image = None
    for ax, (name, values) in zip(axes[0], panels.items()):
        image, counted = _histogram_panel(ax, values, bins, norm)
        ax.set_title(f"{name}: {counted}" if name else counted, fontsize=9)
    fig.colorbar(image, ax=list(axes[0]), label="frames")
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def learning_curve(path, rows: Sequence[dict], monitor: str, *, best_epoch: Optional[int] = None,
                   title: str = "") -> Path:
    """Loss and ``monitor`` per epoch, training vs validation, from history rows (``epoch`` 1-based, Keras's
    log keys: ``loss``/``val_loss``, ``x``/``val_x``); a dotted line marks ``best_epoch``. One panel when
    ``monitor`` is a loss."""
    import matplotlib.ticker

    base = monitor.removeprefix("val_")
    names = ["loss"] + ([base] if base != "loss" else [])
    plt, (fig, axes) = _figure(1, len(names), figsize=(5.2 * len(names) + 1.6, 3.6), squeeze=False,
                               constrained_layout=True)
    epochs = np.array([row["epoch"] for row in rows], np.float64)
    for ax, name in zip(axes[0], names):
        for key, label, style in ((name, "training", "-o"), (f"val_{name}", "validation", "--s")):
            values = np.array([row.get(key, np.nan) for row in rows], np.float64)
            if np.isfinite(values).any():
                ax.plot(epochs, values, style, ms=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.5", ls=":", lw=1, label=f"best epoch ({best_epoch})")
        ax.set_title(name + (" (monitored)" if name == base else ""), fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def confusion_percentages(counts) -> np.ndarray:
    """Row-normalised confusion matrix in percent: ``100 * counts[i, j] / sum_j counts[i, j]`` (rows the true
    class, columns the predicted one; a class without examples gets a row of NaN). What
    :func:`confusion_matrix` draws, the form of Kahou et al. 2015's Figure 4."""
    counts = np.asarray(counts, np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, 100.0 * counts / np.where(totals > 0, totals, 1.0), np.nan)


def confusion_matrix(path, counts, classes: Sequence[str], *, title: str = "") -> Path:
    """A confusion matrix as a picture: rows the true class, columns the predicted one, each cell the share of its
    row in percent (:func:`confusion_percentages`, Kahou et al. 2015 Figure 4's form) with the row's count beside
    each class name; a row without examples stays blank."""
    counts = np.asarray(counts, np.int64)
    percent = confusion_percentages(counts)
    n = len(classes)
    plt, (fig, ax) = _figure(figsize=(1.0 + 0.75 * n, 0.8 + 0.65 * n), constrained_layout=True)
    ax.imshow(np.nan_to_num(percent), cmap="Blues", vmin=0, vmax=100)
    for i in range(n):
        for j in range(n):
            if np.isfinite(percent[i, j]):
                ax.text(j, i, f"{percent[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if percent[i, j] > 60 else "black")
    ax.set_xticks(range(n), list(classes), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [f"{name} ({total})" for name, total in zip(classes, counts.sum(axis=1))], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (clips)")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)
