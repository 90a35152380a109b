"""Evaluation metrics for valence/arousal regression and expression classification.

Two layers, one set of formulas:

1. **Plain functions** on whole arrays (NumPy, float64), for dataset-level evaluation:
   :func:`ccc`, :func:`mse`, :func:`rmse`, :func:`pcc`, :func:`icc_aspandi`, :func:`icc_3_1`,
   :func:`sagr`, :func:`va_score` for regression; :func:`accuracy`, :func:`f1`,
   :func:`abaw1_expression_score` for the 7 expressions.
2. **Streaming** ``keras.metrics.Metric`` classes (``keras.ops`` only, so they run under
   ``KERAS_BACKEND=jax``) that accumulate sufficient statistics batch by batch, so that the value
   after a whole dataset equals the plain function on all frames concatenated:
   :class:`ConcordanceCC`, :class:`PearsonCC`, :class:`IntraclassCC`,
   :class:`MeanSquaredErrorPerDim`, :class:`RootMeanSquaredErrorPerDim`,
   :class:`ExpressionAccuracy`, :class:`ExpressionF1`, :class:`ABAWExpressionScore`.

Both layers evaluate the same formula functions (``_ccc_from_moments`` & co.), once with NumPy
and once with ``keras.ops``; :mod:`tfaffect.losses` uses them too.

Regression conventions
    Inputs are ``[N]`` or ``[N, D]`` (columns = valence, arousal in the data contract's order).
    A ``[N]`` input gives a float, a ``[N, D]`` input an array ``[D]``: one value per column, each
    over all frames of that column (Kollias 2019, eq. 1: the papers' CCC is per dimension over the
    whole evaluation set, population (1/N) statistics -- the original code's ``concordance_cc2``).
    Streaming metrics take ``[B, D]`` or ``[B, T, D]`` (time is flattened) and a ``dim`` argument:
    ``dim=k`` reports column k, ``dim=None`` the mean over columns.

Which frames count (one rule for every function, metric and loss)
    A frame is left out when its **label is NaN** (the :class:`~tfaffect.data.formats.base.VideoRecord`
    convention for invalid valence/arousal; importers turn Aff-Wild2's ``-5`` into NaN -- for a raw
    array pass ``np.where(labels == -5, np.nan, labels)``), when its **expression label is negative**
    (``-1`` = invalid in Aff-Wild2 and in VideoRecord), or when the caller excludes it: ``mask``
    (bool, ``[N]`` or ``[N, D]``, True = keep) in the plain functions, ``sample_weight`` (<= 0 = drop)
    in the streaming metrics. A non-finite *prediction* on a kept frame is an error, not a skip.
    Streaming metrics treat a non-binary ``sample_weight`` as a frequency weight (weight 2 = the frame
    counted twice). Pass them to ``model.compile`` as ``weighted_metrics`` -- Keras gives
    ``sample_weight`` only to those.

Edge cases (defined, never NaN)
    * Nothing left after masking (plain functions): ``ValueError`` saying so. Streaming metrics
      cannot raise inside a traced step; they report 0 until they have seen a valid frame.
    * CCC: the denominator ``var_t + var_p + (mean_t - mean_p)^2`` is 0 only when both series are
      constant and equal, i.e. identical: CCC = 1 then (audmetric returns NaN there and for fewer
      than 2 frames). One constant series against a varying one gives covariance 0, so CCC = 0;
      a single frame gives 1 if the prediction equals the label, else 0.
    * PCC: 0 when either series has zero variance, which includes a single frame (audmetric and
      scipy return NaN; not fixed by any paper, chosen because "no measurable linear relation" is
      the honest reading and a number keeps tables and early stopping working).
    * ICC (both forms): 0 when both series have zero variance (same reasoning as PCC).
    * F1: a class with no true and no predicted frame has F1 = 0 and stays in the macro mean:
      ``sklearn.metrics.f1_score(..., labels=range(num_classes), zero_division=0)`` semantics.
      (Averaging only over the classes present gives a different number on small sets; on the full
      Aff-Wild2 sets every class is present and the two agree.)
    * Mismatched shapes: ``ValueError`` naming both shapes.

Numerics
    Plain functions use float64 and two passes. Streaming metrics keep float32 variables (JAX's
    default), so they merge batches with Chan et al.'s pairwise update of count, means, sums of
    squared deviations (M2) and co-moment, all relative to a reference value per column (the first
    valid label/prediction the metric saw). Large offsets (1e4 + small noise) therefore keep their
    precision, and constant series give variances of exactly 0. Confusion-matrix counts are exact
    up to 2**24 frames per cell in float32.

Several replicas (``tf.distribute``)
    A strategy keeps one copy of each metric variable per replica and *sums* the copies when the
    result is read (Keras metric variables aggregate by "sum"; across workers too). Counts,
    confusion matrices and the sum of squared errors add up exactly that way, but Chan's means and
    M2 about each replica's own reference do not. So the moment metrics also keep plain sums per
    column -- sum of w, w t, w p, w t^2, w p^2, w t p, w (p - t)^2 -- and the number of replicas
    that saw a valid frame. One replica with data (always, without a strategy or under JAX): the
    Chan state, as above. Several: the moments from the summed power sums, which merge exactly;
    their float32 precision is that of the raw sums, relative error about 1e-7 x (mean^2 + var) /
    var per column -- about 1e-6 for valence/arousal in [-1, 1], but useless for data like
    1e4 + small noise (centre such data before streaming it across replicas). MSE/RMSE come from
    the summed squared errors either way, exact.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
from keras import ops

__all__ = [
    "ccc", "mse", "rmse", "pcc", "icc_aspandi", "icc_3_1", "sagr", "va_score",
    "accuracy", "f1", "abaw1_expression_score",
    "ConcordanceCC", "PearsonCC", "IntraclassCC", "MeanSquaredErrorPerDim",
    "RootMeanSquaredErrorPerDim", "ExpressionAccuracy", "ExpressionF1", "ABAWExpressionScore",
]

ABAW1_F1_WEIGHT = 0.67  # ABAW 2020 expression score (Do 2020, eq. 5; FORMATS.md "Metrics")
ABAW1_ACCURACY_WEIGHT = 0.33  # ABAW 2020 expression score (Do 2020, eq. 5; FORMATS.md "Metrics")
NUM_EXPRESSIONS = 7  # tfaffect.EXPRESSIONS_7 (Aff-Wild2 EXPR_Set, ABAW 2020)


# --------------------------------------------------------------------------------------------
# Shared statistics: every function below takes ``xp`` = numpy or keras.ops (same names/semantics).
# --------------------------------------------------------------------------------------------

class _Moments(NamedTuple):
    """Weighted sufficient statistics per column; means are relative to ``ref_*``.

    ``n`` = sum of weights, ``m2_*`` = sum of w * (x - mean)^2, ``comoment`` = sum of
    w * (t - mean_t) * (p - mean_p), ``sse`` = sum of w * (p - t)^2.
    """
    n: object
    ref_true: object
    ref_pred: object
    mean_true: object
    mean_pred: object
    m2_true: object
    m2_pred: object
    comoment: object
    sse: object


def _safe_divide(numerator, denominator, fallback, xp):
    """numerator / denominator where denominator > 0, else ``fallback``; finite gradients either way."""
    ok = denominator > 0
    return xp.where(ok, numerator / xp.where(ok, denominator, 1), fallback)


def _first_valid(x, valid, xp, axis):
    """Per column, the first value of ``x`` along ``axis`` where ``valid``; 0 if there is none."""
    valid_int = xp.where(valid, 1, 0)
    index = xp.expand_dims(xp.argmax(valid_int, axis=axis), axis)
    first = xp.squeeze(xp.take_along_axis(x, index, axis=axis), axis)
    return xp.where(xp.sum(valid_int, axis=axis) > 0, first, 0)


def _moments(y_true, y_pred, weight, xp, axis=-2, ref_true=None, ref_pred=None):
    """Two-pass weighted moments of ``[..., N, D]`` inputs over ``axis`` (the frame axis).

    Frames with weight 0 contribute nothing, whatever their values (they are zeroed first, so a NaN
    there cannot leak). Values are taken relative to a reference (default: the first valid value of
    each column), which keeps large offsets precise and makes a constant column's M2 exactly 0.
    """
    valid = weight > 0
    y_true = xp.where(valid, y_true, 0)
    y_pred = xp.where(valid, y_pred, 0)
    if ref_true is None:
        ref_true = _first_valid(y_true, valid, xp, axis)
        ref_pred = _first_valid(y_pred, valid, xp, axis)
    d_true = xp.where(valid, y_true - xp.expand_dims(ref_true, axis), 0)
    d_pred = xp.where(valid, y_pred - xp.expand_dims(ref_pred, axis), 0)
    n = xp.sum(weight, axis=axis)
    mean_true = _safe_divide(xp.sum(weight * d_true, axis=axis), n, 0, xp)
    mean_pred = _safe_divide(xp.sum(weight * d_pred, axis=axis), n, 0, xp)
    e_true = xp.where(valid, d_true - xp.expand_dims(mean_true, axis), 0)
    e_pred = xp.where(valid, d_pred - xp.expand_dims(mean_pred, axis), 0)
    return _Moments(
        n=n, ref_true=ref_true, ref_pred=ref_pred, mean_true=mean_true, mean_pred=mean_pred,
        m2_true=xp.sum(weight * e_true * e_true, axis=axis),
        m2_pred=xp.sum(weight * e_pred * e_pred, axis=axis),
        comoment=xp.sum(weight * e_true * e_pred, axis=axis),
        sse=xp.sum(weight * xp.square(y_pred - y_true), axis=axis),
    )


def _mean_difference(m: _Moments):
    return (m.ref_true - m.ref_pred) + (m.mean_true - m.mean_pred)


def _ccc_from_moments(m: _Moments, xp):
    """Lin's CCC = 2 s_tp / (s_t^2 + s_p^2 + (mean_t - mean_p)^2) (Kollias 2019, eq. 1).

    Numerator and denominator are multiplied by n, as the moments hold sums, not averages.
    """
    denominator = m.m2_true + m.m2_pred + m.n * xp.square(_mean_difference(m))
    return _safe_divide(2 * m.comoment, denominator, 1, xp)


def _pcc_from_moments(m: _Moments, xp):
    """Pearson CC = s_tp / (s_t s_p) (Kollias 2019, eq. 5)."""
    return _safe_divide(m.comoment, xp.sqrt(m.m2_true) * xp.sqrt(m.m2_pred), 0, xp)


def _icc_from_moments(m: _Moments, xp):
    """2 s_tp / (s_t^2 + s_p^2): Aspandi 2021 eq. 14 and ICC(3,1) with k = 2 (see :func:`icc_3_1`)."""
    return _safe_divide(2 * m.comoment, m.m2_true + m.m2_pred, 0, xp)


def _mse_from_moments(m: _Moments, xp):
    """MSE = 1/N sum (t - p)^2 (Kollias 2019, eq. 2)."""
    return _safe_divide(m.sse, m.n, 0, xp)


def _rmse_from_moments(m: _Moments, xp):
    """RMSE = sqrt(MSE) (Aspandi 2021, eq. 11)."""
    return xp.sqrt(_mse_from_moments(m, xp))


def _f1_from_confusion(confusion, average, xp):
    """F1 per class = 2 TP / (2 TP + FP + FN) from a [true, predicted] confusion matrix, averaged."""
    true_positives = xp.diagonal(confusion)
    support = xp.sum(confusion, axis=1)
    predicted = xp.sum(confusion, axis=0)
    per_class = _safe_divide(2 * true_positives, support + predicted, 0, xp)
    if average == "macro":
        return xp.mean(per_class)
    return _safe_divide(xp.sum(per_class * support), xp.sum(support), 0, xp)


def _accuracy_from_confusion(confusion, xp):
    return _safe_divide(xp.sum(xp.diagonal(confusion)), xp.sum(confusion), 0, xp)


def _abaw1_from_confusion(confusion, xp):
    return (ABAW1_F1_WEIGHT * _f1_from_confusion(confusion, "macro", xp)
            + ABAW1_ACCURACY_WEIGHT * _accuracy_from_confusion(confusion, xp))


def _check_average(average):
    if average not in ("macro", "weighted"):
        raise ValueError(f"average must be 'macro' or 'weighted', got {average!r}")


def _shape_mismatch(y_true_shape, y_pred_shape) -> ValueError:
    return ValueError(f"y_true has shape {tuple(y_true_shape)} but y_pred has shape "
                      f"{tuple(y_pred_shape)}; they must match")


# --------------------------------------------------------------------------------------------
# Plain functions (NumPy, float64)
# --------------------------------------------------------------------------------------------

def _prepare_regression(y_true, y_pred, mask):
    """Checks inputs and returns (t, p, w) as float64 [N, D] arrays plus whether the input was 1-D."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise _shape_mismatch(t.shape, p.shape)
    if t.ndim not in (1, 2) or t.shape[0] == 0 or t.size == 0:
        raise ValueError(f"expected non-empty [N] or [N, D] arrays, got shape {t.shape}")
    one_d = t.ndim == 1
    if one_d:
        t, p = t[:, None], p[:, None]
    keep = ~np.isnan(t)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"mask must be boolean, got dtype {m.dtype}")
        if m.shape == (t.shape[0],):
            m = m[:, None]
        elif m.shape != np.shape(y_true):
            raise ValueError(f"mask has shape {m.shape}; expected {(t.shape[0],)} or "
                             f"{tuple(np.shape(y_true))}")
        keep &= m.reshape(-1, 1) if one_d else m
    bad = keep & ~np.isfinite(p)
    if bad.any():
        frame, column = np.argwhere(bad)[0]
        raise ValueError(f"y_pred is not finite at frame {frame}, column {column}: {p[frame, column]}")
    bad = keep & ~np.isfinite(t)
    if bad.any():
        frame, column = np.argwhere(bad)[0]
        raise ValueError(f"y_true is infinite at frame {frame}, column {column} "
                         "(NaN marks an invalid frame; infinity is an error)")
    empty = np.flatnonzero(~keep.any(axis=0))
    if empty.size:
        raise ValueError(f"nothing is left after masking in column {empty[0]} of shape "
                         f"{tuple(np.shape(y_true))} (all labels NaN or masked out)")
    return t, p, keep.astype(np.float64), one_d


def _regression(formula, y_true, y_pred, mask):
    t, p, w, one_d = _prepare_regression(y_true, y_pred, mask)
    values = np.asarray(formula(_moments(t, p, w, np, axis=0), np), dtype=np.float64)
    return float(values[0]) if one_d else values


def ccc(y_true, y_pred, mask=None):
    """Lin's concordance correlation coefficient per column, population statistics.

    ``2 s_tp / (s_t^2 + s_p^2 + (mean_t - mean_p)^2)`` (Kollias 2019, eq. 1) over all kept frames;
    1 for identical constant series (see the module docstring for every edge case).
    """
    return _regression(_ccc_from_moments, y_true, y_pred, mask)


def mse(y_true, y_pred, mask=None):
    """Mean squared error per column, ``1/N sum (t - p)^2`` (Kollias 2019, eq. 2)."""
    return _regression(_mse_from_moments, y_true, y_pred, mask)


def rmse(y_true, y_pred, mask=None):
    """Root mean squared error per column (Aspandi 2021, eq. 11)."""
    return _regression(_rmse_from_moments, y_true, y_pred, mask)


def pcc(y_true, y_pred, mask=None):
    """Pearson correlation coefficient per column (Kollias 2019, eq. 5); 0 if a series is constant."""
    return _regression(_pcc_from_moments, y_true, y_pred, mask)


def icc_aspandi(y_true, y_pred, mask=None):
    """The ICC of Aspandi 2021, eq. 14: ``2 cov(p, t) / (var_p + var_t)``, i.e. CCC without the mean term.

    The paper's eq. 12-14 print the numerator as ``E[(p - mean_p) - (t - mean_t)]``, a difference,
    which is identically 0; the covariance (a product) is meant, as in the CCC it is derived from,
    and that is what is computed. The "2x" there is "2 times". Algebraically equal to
    :func:`icc_3_1` (derivation there); 0 when both series are constant.
    """
    return _regression(_icc_from_moments, y_true, y_pred, mask)


def icc_3_1(y_true, y_pred, mask=None):
    """ICC(3,1) of Shrout & Fleiss 1979 (two-way mixed, consistency, single rater), k = 2 raters.

    The frames are the n targets and (prediction, label) the k = 2 "raters":
    ``ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS)``. With population moments of the two series,
    ``BMS = n (s_p^2 + s_t^2 + 2 s_tp) / (2 (n - 1))`` and ``EMS = n (s_p^2 + s_t^2 - 2 s_tp) / (2 (n - 1))``,
    so ``ICC(3,1) = 2 s_tp / (s_p^2 + s_t^2)`` -- the same number as :func:`icc_aspandi` (the n - 1
    cancel). It is computed that way, which also defines it for n = 1 and constant series (0 when
    both variances are 0). The tests check it against a direct ANOVA computation.
    """
    return _regression(_icc_from_moments, y_true, y_pred, mask)


def sagr(y_true, y_pred, mask=None):
    """Sign agreement rate per column: the fraction of kept frames with ``sign(t) == sign(p)``.

    ``sign`` is ``np.sign`` (-1, 0, +1), so a 0 agrees only with a 0.
    """
    t, p, w, one_d = _prepare_regression(y_true, y_pred, mask)
    values = (w * (np.sign(t) == np.sign(p))).sum(axis=0) / w.sum(axis=0)
    return float(values[0]) if one_d else values


def va_score(y_true, y_pred, mask=None) -> float:
    """The ABAW 2020 VA score: mean of the valence and arousal CCC (Do 2020, section III.C, eq. 6).

    Inputs must be ``[N, 2]`` (valence, arousal).
    """
    if np.ndim(y_true) != 2 or np.shape(y_true)[1] != 2:
        raise ValueError(f"va_score needs [N, 2] (valence, arousal) arrays, got y_true of shape "
                         f"{np.shape(y_true)}")
    return float(np.mean(ccc(y_true, y_pred, mask)))


def _confusion(y_true, y_pred, num_classes, mask):
    """Checks inputs and returns the [true, predicted] confusion matrix (float64) of the kept frames.

    ``y_pred`` is class indices ``[N]`` or class scores ``[N, num_classes]`` (argmax is taken).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or (p.shape != t.shape and p.shape != t.shape + (num_classes,)):
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}; expected "
                         f"y_true [N] and y_pred [N] (class indices) or [N, {num_classes}] (scores)")
    if t.size == 0:
        raise ValueError("y_true is empty")
    if p.ndim == 2:
        bad = ~np.isfinite(p).all(axis=1)
        if bad.any():
            frame = int(np.flatnonzero(bad)[0])
            raise ValueError(f"y_pred scores are not finite at frame {frame}")
        p = p.argmax(axis=1)
    for name, values in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(values.dtype, np.integer):
            integral = np.isfinite(values) & (values == np.round(values))
            if not integral.all():
                frame = int(np.flatnonzero(~integral)[0])
                raise ValueError(f"{name} holds a non-integer class at frame {frame}: {values[frame]}")
    t = t.astype(np.int64)
    p = p.astype(np.int64)
    keep = t >= 0
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != t.shape:
            raise ValueError(f"mask must be boolean of shape {t.shape}, got {m.dtype} {m.shape}")
        keep &= m
    for name, values, bad in (("y_true", t, keep & (t >= num_classes)),
                              ("y_pred", p, keep & ((p < 0) | (p >= num_classes)))):
        if bad.any():
            frame = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} has class {values[frame]} at frame {frame}, outside "
                             f"0..{num_classes - 1} (negative labels mark invalid frames)")
    if not keep.any():
        raise ValueError(f"nothing is left after masking: all {t.size} labels are invalid (< 0) "
                         "or masked out")
    index = t[keep] * num_classes + p[keep]
    return np.bincount(index, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes).astype(np.float64)


def accuracy(y_true, y_pred, mask=None, num_classes=NUM_EXPRESSIONS) -> float:
    """Fraction of kept frames whose predicted class equals the label (negative labels are skipped)."""
    return float(_accuracy_from_confusion(_confusion(y_true, y_pred, num_classes, mask), np))


def f1(y_true, y_pred, average="macro", num_classes=NUM_EXPRESSIONS, mask=None) -> float:
    """F1 over the classes ``0..num_classes-1``, ``average`` = "macro" (unweighted) or "weighted" (by support).

    Same as ``sklearn.metrics.f1_score(t, p, labels=range(num_classes), average=average,
    zero_division=0)``: a class absent from labels and predictions has F1 = 0 and counts in the
    macro mean; "weighted" weights each class by its number of true frames.
    """
    _check_average(average)
    return float(_f1_from_confusion(_confusion(y_true, y_pred, num_classes, mask), average, np))


def abaw1_expression_score(y_true, y_pred, mask=None, num_classes=NUM_EXPRESSIONS) -> float:
    """ABAW 2020 expression score = 0.67 * macro F1 + 0.33 * accuracy (Do 2020, eq. 5; FORMATS.md)."""
    return float(_abaw1_from_confusion(_confusion(y_true, y_pred, num_classes, mask), np))


# --------------------------------------------------------------------------------------------
# keras.ops helpers shared by the streaming metrics and tfaffect.losses
# --------------------------------------------------------------------------------------------

def _shapes_differ(a, b) -> bool:
    """True when two static shapes differ in rank or in a dimension known in both (None = unknown)."""
    return len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b))


def _check_same_shape(y_true, y_pred):
    """ValueError naming both shapes when the known dimensions of the two tensors differ."""
    if _shapes_differ(tuple(y_true.shape), tuple(y_pred.shape)):
        raise _shape_mismatch(y_true.shape, y_pred.shape)


def _frame_weights(sample_weight, like, dtype):
    """``sample_weight`` (a scalar, or of shape ``like.shape``, ``like.shape[:-1]`` or with a last dim of
    1) broadcast to ``like``'s shape, negative weights set to 0; all ones when None."""
    ones = ops.ones_like(like, dtype=dtype)
    if sample_weight is None:
        return ones
    weight = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
    if len(weight.shape) == len(like.shape) - 1:
        weight = ops.expand_dims(weight, -1)
    if len(weight.shape) not in (0, len(like.shape)):
        raise ValueError(f"sample_weight has shape {tuple(weight.shape)}; expected "
                         f"{tuple(like.shape[:-1])} (one weight per frame) or {tuple(like.shape)}")
    return ops.maximum(weight, 0) * ones


def _prepare_regression_tensors(y_true, y_pred, sample_weight, dtype):
    """Casts, checks shapes and returns (y_true, y_pred, weight) of one shape; NaN labels get weight 0."""
    y_true = ops.cast(ops.convert_to_tensor(y_true), dtype)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), dtype)
    _check_same_shape(y_true, y_pred)
    if len(y_true.shape) < 2:
        raise ValueError(f"expected [B, D] or [B, T, D] tensors, got shape {tuple(y_true.shape)}")
    weight = _frame_weights(sample_weight, y_true, dtype)
    is_nan = ops.isnan(y_true)
    weight = ops.where(is_nan, 0, weight)
    return ops.where(is_nan, 0, y_true), y_pred, weight


# --------------------------------------------------------------------------------------------
# Streaming metrics
# --------------------------------------------------------------------------------------------

class _PowerSums(NamedTuple):
    """Per-column sums that add up across replicas: ``replicas`` = 1 on a replica that saw a valid
    frame of the column; ``t``, ``p``, ``tt``, ``pp``, ``tp`` = sums of w t, w p, w t^2, w p^2, w t p."""
    replicas: object
    t: object
    p: object
    tt: object
    pp: object
    tp: object


def _moments_from_power_sums(n, sse, sums: _PowerSums, xp):
    """:class:`_Moments` (reference 0) of the frames behind summed power sums (one-pass formulas)."""
    mean_true = _safe_divide(sums.t, n, 0, xp)
    mean_pred = _safe_divide(sums.p, n, 0, xp)
    return _Moments(
        n=n, ref_true=xp.zeros_like(n), ref_pred=xp.zeros_like(n), mean_true=mean_true, mean_pred=mean_pred,
        m2_true=xp.maximum(sums.tt - n * mean_true * mean_true, 0),  # >= 0 despite rounding
        m2_pred=xp.maximum(sums.pp - n * mean_pred * mean_pred, 0),
        comoment=sums.tp - n * mean_true * mean_pred,
        sse=sse,
    )


class _MomentMetric(keras.metrics.Metric):
    """Accumulates per-column :class:`_Moments` with Chan et al.'s pairwise merge, plus the
    :class:`_PowerSums` that merge across replicas; see the module docstring.

    Args:
        dim: column to report (0 = valence, 1 = arousal in the data contract), or None for the mean
            over all columns.
        num_dims: number of columns D of ``y_true`` / ``y_pred`` (2 = valence, arousal).
        name, dtype: as for any Keras metric.
    """

    _formula = None  # one of the _*_from_moments functions

    def __init__(self, dim=None, num_dims=2, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_dims < 1:
            raise ValueError(f"num_dims must be >= 1, got {num_dims}")
        if dim is not None and not 0 <= dim < num_dims:
            raise ValueError(f"dim must be None or in 0..{num_dims - 1}, got {dim}")
        self.dim = dim
        self.num_dims = num_dims
        self._stats = _Moments(*(self.add_variable(shape=(num_dims,), initializer="zeros", name=field)
                                 for field in _Moments._fields))
        self._sums = _PowerSums(*(self.add_variable(shape=(num_dims,), initializer="zeros", name=f"sum_{field}")
                                  for field in _PowerSums._fields))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch of ``[B, D]`` or ``[B, T, D]`` frames; ``sample_weight`` per frame (0 = masked)."""
        y_true, y_pred, weight = _prepare_regression_tensors(y_true, y_pred, sample_weight, self.dtype)
        if y_true.shape[-1] != self.num_dims:
            raise ValueError(f"{self.name}: inputs have {y_true.shape[-1]} columns (shape "
                             f"{tuple(y_true.shape)}) but num_dims={self.num_dims}")
        flat = (-1, self.num_dims)
        y_true, y_pred, weight = (ops.reshape(x, flat) for x in (y_true, y_pred, weight))
        old = _Moments(*(ops.convert_to_tensor(v) for v in self._stats))
        seen = old.n > 0
        valid = weight > 0
        ref_true = ops.where(seen, old.ref_true, _first_valid(y_true, valid, ops, 0))
        ref_pred = ops.where(seen, old.ref_pred, _first_valid(y_pred, valid, ops, 0))
        new = _moments(y_true, y_pred, weight, ops, axis=0, ref_true=ref_true, ref_pred=ref_pred)
        # Chan, Golub & LeVeque 1979 pairwise update, weighted counts.
        n = old.n + new.n
        new_share = _safe_divide(new.n, n, 0, ops)
        cross = old.n * new_share  # n_a n_b / n
        delta_true = new.mean_true - old.mean_true
        delta_pred = new.mean_pred - old.mean_pred
        merged = _Moments(
            n=n, ref_true=ref_true, ref_pred=ref_pred,
            mean_true=old.mean_true + delta_true * new_share,
            mean_pred=old.mean_pred + delta_pred * new_share,
            m2_true=old.m2_true + new.m2_true + delta_true * delta_true * cross,
            m2_pred=old.m2_pred + new.m2_pred + delta_pred * delta_pred * cross,
            comoment=old.comoment + new.comoment + delta_true * delta_pred * cross,
            sse=old.sse + new.sse,
        )
        for variable, value in zip(self._stats, merged):
            variable.assign(value)
        t = ops.where(valid, y_true, 0)  # a dropped frame's values may be anything, even NaN
        p = ops.where(valid, y_pred, 0)
        wt, wp = weight * t, weight * p
        sums = _PowerSums(*(ops.convert_to_tensor(v) for v in self._sums))
        updated = _PowerSums(
            replicas=ops.where(n > 0, ops.ones_like(n), ops.zeros_like(n)),
            t=sums.t + ops.sum(wt, axis=0), p=sums.p + ops.sum(wp, axis=0),
            tt=sums.tt + ops.sum(wt * t, axis=0), pp=sums.pp + ops.sum(wp * p, axis=0),
            tp=sums.tp + ops.sum(wt * p, axis=0))
        for variable, value in zip(self._sums, updated):
            variable.assign(value)

    def result(self):
        stats = _Moments(*(ops.convert_to_tensor(v) for v in self._stats))
        sums = _PowerSums(*(ops.convert_to_tensor(v) for v in self._sums))
        # Several replicas saw frames: their Chan states were summed, which means nothing; the
        # power sums were summed too, which is their merge (see the module docstring).
        merged = _moments_from_power_sums(stats.n, stats.sse, sums, ops)
        stats = _Moments(*(ops.where(sums.replicas > 1, m, c) for m, c in zip(merged, stats)))
        values = ops.where(stats.n > 0, self._formula(stats, ops), 0)
        return ops.mean(values) if self.dim is None else values[self.dim]

    def get_config(self):
        return {"dim": self.dim, "num_dims": self.num_dims, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="tfaffect")
class ConcordanceCC(_MomentMetric):
    """Dataset-level Lin's CCC per column (Kollias 2019, eq. 1), streamed; equals :func:`ccc`.

    Unlike ``keras.metrics.ConcordanceCorrelation`` (which works along ``axis=-1``, across valence
    and arousal of one frame), statistics run over all frames. Example:
    ``ConcordanceCC(dim=0, name="ccc_valence")``.
    """
    _formula = staticmethod(_ccc_from_moments)

    def __init__(self, dim=None, num_dims=2, name="ccc", dtype=None):
        super().__init__(dim=dim, num_dims=num_dims, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfaffect")
class PearsonCC(_MomentMetric):
    """Dataset-level Pearson CC per column (Kollias 2019, eq. 5), streamed; equals :func:`pcc`."""
    _formula = staticmethod(_pcc_from_moments)

    def __init__(self, dim=None, num_dims=2, name="pcc", dtype=None):
        super().__init__(dim=dim, num_dims=num_dims, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfaffect")
class IntraclassCC(_MomentMetric):
    """Dataset-level ICC (Aspandi 2021, eq. 14 = ICC(3,1), k = 2), streamed; equals :func:`icc_3_1`."""
    _formula = staticmethod(_icc_from_moments)

    def __init__(self, dim=None, num_dims=2, name="icc", dtype=None):
        super().__init__(dim=dim, num_dims=num_dims, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfaffect")
class MeanSquaredErrorPerDim(_MomentMetric):
    """Dataset-level MSE per column (Kollias 2019, eq. 2), streamed; equals :func:`mse`."""
    _formula = staticmethod(_mse_from_moments)

    def __init__(self, dim=None, num_dims=2, name="mse", dtype=None):
        super().__init__(dim=dim, num_dims=num_dims, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfaffect")
class RootMeanSquaredErrorPerDim(_MomentMetric):
    """Dataset-level RMSE per column (Aspandi 2021, eq. 11), streamed; equals :func:`rmse`.

    With ``dim=None`` it reports the mean of the per-column RMSEs (as Aspandi 2021's "AVG" column),
    not the RMSE over all values.
    """
    _formula = staticmethod(_rmse_from_moments)

    def __init__(self, dim=None, num_dims=2, name="rmse", dtype=None):
        super().__init__(dim=dim, num_dims=num_dims, name=name, dtype=dtype)


class _ConfusionMetric(keras.metrics.Metric):
    """Accumulates a weighted [true, predicted] confusion matrix over batches.

    ``y_true``: int labels ``[B]`` or ``[B, T]`` (negative = invalid frame, as -1 in Aff-Wild2; a
    trailing dimension of 1 is accepted); ``y_pred``: class scores ``[B, (T,) num_classes]`` (argmax is
    taken) or class indices of ``y_true``'s shape. ``sample_weight`` per frame, 0 = masked.
    Labels >= ``num_classes`` cannot raise inside a traced step and are left out like invalid ones;
    the plain functions raise on them.
    """

    def __init__(self, num_classes=NUM_EXPRESSIONS, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.confusion = self.add_variable(shape=(num_classes, num_classes), initializer="zeros",
                                           name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == len(y_true.shape) and y_pred.shape[-1] == self.num_classes \
                and y_true.shape[-1] == 1 and self.num_classes != 1:
            y_true = ops.squeeze(y_true, -1)
        if len(y_pred.shape) == len(y_true.shape) + 1:
            if y_pred.shape[-1] != self.num_classes:
                raise ValueError(f"{self.name}: y_pred has {y_pred.shape[-1]} class scores (shape "
                                 f"{tuple(y_pred.shape)}) but num_classes={self.num_classes}")
            if _shapes_differ(tuple(y_true.shape), tuple(y_pred.shape[:-1])):
                raise _shape_mismatch(y_true.shape, y_pred.shape)
            y_pred = ops.argmax(y_pred, axis=-1)
        _check_same_shape(y_true, y_pred)
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        predicted = ops.reshape(ops.cast(y_pred, "int32"), (-1,))
        weight = ops.reshape(_frame_weights(sample_weight, ops.expand_dims(y_true, -1), self.dtype), (-1,))
        in_range = (labels >= 0) & (labels < self.num_classes)
        weight = ops.where(in_range, weight, 0)
        true_one_hot = ops.one_hot(ops.where(in_range, labels, 0), self.num_classes, dtype=self.dtype)
        pred_one_hot = ops.one_hot(predicted, self.num_classes, dtype=self.dtype)
        self.confusion.assign(self.confusion + ops.matmul(
            ops.transpose(true_one_hot * ops.expand_dims(weight, -1)), pred_one_hot))

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="tfaffect")
class ExpressionAccuracy(_ConfusionMetric):
    """Accuracy over valid frames, streamed; equals :func:`accuracy`."""

    def __init__(self, num_classes=NUM_EXPRESSIONS, name="expression_accuracy", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        return _accuracy_from_confusion(ops.convert_to_tensor(self.confusion), ops)


@keras.saving.register_keras_serializable(package="tfaffect")
class ExpressionF1(_ConfusionMetric):
    """F1 ("macro" or "weighted") over all ``num_classes`` classes, streamed; equals :func:`f1`."""

    def __init__(self, average="macro", num_classes=NUM_EXPRESSIONS, name="expression_f1", dtype=None):
        _check_average(average)
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)
        self.average = average

    def result(self):
        return _f1_from_confusion(ops.convert_to_tensor(self.confusion), self.average, ops)

    def get_config(self):
        return {**super().get_config(), "average": self.average}


@keras.saving.register_keras_serializable(package="tfaffect")
class ABAWExpressionScore(_ConfusionMetric):
    """0.67 * macro F1 + 0.33 * accuracy (ABAW 2020; Do 2020, eq. 5), streamed; equals
    :func:`abaw1_expression_score`."""

    def __init__(self, num_classes=NUM_EXPRESSIONS, name="abaw1_expression_score", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        return _abaw1_from_confusion(ops.convert_to_tensor(self.confusion), ops)
