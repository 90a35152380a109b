"""Training losses for valence/arousal and expressions (``keras.ops`` only, so they run under JAX).

* :class:`CCCLoss` -- ``1 - CCC`` per dimension, combined over valence and arousal (Kollias 2019,
  eq. 2-3; Do 2020, eq. 2 and 4).
* :class:`MaskedMSE` -- mean squared error over the valid frames.
* :class:`MaskedSparseCategoricalCrossentropy` -- cross-entropy of the 7 expression probabilities
  against integer labels (Do 2020, eq. 1), over the valid frames.
* :func:`multitask_losses` -- the ``loss`` and ``loss_weights`` arguments of ``model.compile`` for a
  model with several outputs (Do 2020, eq. 4).
* :func:`stat_lstm_losses` -- the STAT + LSTM family's loss (Do 2020, eq. 4) and
  :func:`five_vector_target`, the target of its MSE branch.
* :class:`AnclafAffectLoss` -- ANCLaF's affect loss (Aspandi 2021, eq. 10-14): RMSE + (1 - COR) + (1 - CCC)
  + (1 - ICC), every frame weighted by the inverse frequency of its cell of a 10 x 10 valence-arousal grid
  (:func:`inverse_frequency_table`).

Masking. A frame counts when its ``sample_weight`` is > 0 and its label is valid (valence/arousal
not NaN, expression label >= 0), the same rule as :mod:`tfaffect.metrics`. A CCC is a statistic of
the whole batch, not a mean of per-frame values, so Keras's usual scheme (``call`` returns
per-sample losses that Keras multiplies by ``sample_weight`` and averages) cannot express it. These
losses therefore override ``__call__``: they take ``sample_weight`` into the statistics themselves
and return the final scalar, normalised by the weight of the valid frames (not by the batch size),
so masked frames neither count nor dilute the loss. ``model.compile(loss=CCCLoss())`` followed by
``fit(..., sample_weight=...)`` (or a dataset yielding ``(x, y, sample_weight)``) gives exactly the
masked loss. A batch without a valid frame gives loss 0 and zero gradients. Keras masks attached to
tensors (``_keras_mask``) are not used: pass ``sample_weight``.
"""

from __future__ import annotations

from numbers import Real
from typing import Mapping

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # no public name in Keras 3.15

from tfaffect.metrics import (
    _ccc_from_moments, _first_valid, _frame_weights, _moments,
    _prepare_regression_tensors, _safe_divide, _shapes_differ,
)

__all__ = ["AnclafAffectLoss", "CCCLoss", "MaskedMSE", "MaskedSparseCategoricalCrossentropy", "five_vector_target", "multitask_losses",
           "inverse_frequency_table", "stat_lstm_losses", "va_grid_cell"]

STAT_LSTM_LOSS_WEIGHTS = {"class": 1.0, "arousal": 0.4, "valence": 0.4, "mse": 0.2}  # Do 2020, eq. 4: w1, w2, w3, w4


class _FrameWeightedLoss(keras.losses.Loss):
    """A loss that reduces itself, with ``sample_weight`` inside (see the module docstring).

    Subclasses implement ``_weighted(y_true, y_pred, sample_weight) -> scalar``.
    """

    def __init__(self, name, dtype):
        super().__init__(name=name, reduction=None, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            # Keras's own Loss.__call__ divides by the number of replicas under a tf.distribute strategy
            # (the gradients are then summed across replicas); without it N replicas train on N times the
            # loss. A no-op without a strategy and under JAX.
            return scale_loss_for_distribution(self._weighted(y_true, y_pred, sample_weight))

    def call(self, y_true, y_pred):
        """The loss with every frame of valid label counted (no ``sample_weight``)."""
        return self._weighted(y_true, y_pred, None)

    def _weighted(self, y_true, y_pred, sample_weight):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="tfaffect")
class CCCLoss(_FrameWeightedLoss):
    """``sum_d dim_weights[d] * (1 - CCC_d)`` over the columns d of ``[B, D]`` or ``[B, T, D]`` outputs.

    Args:
        over: where the CCC statistics are taken.
            ``"batch"``: over all valid frames of the batch, ``[B, T, D]`` flattened to ``[B*T, D]``
            (the STAT+LSTM original code of Do 2020 computes its CCC loss over the mini-batch,
            FORMATS.md; Kollias 2019 publishes no training code or reduction, and its evaluation CCC
            is over all frames concatenated, so "batch" is the default).
            ``"sequence"``: one CCC per sequence of a ``[B, T, D]`` batch, then the mean over the
            sequences that have at least one valid frame (per column).
        dim_weights: weight of each column's ``1 - CCC``. ``None`` = equal weights ``1/D``, i.e.
            ``(L_v + L_a) / 2`` (Kollias 2019, eq. 3). Do 2020, eq. 4 weights arousal and valence
            0.4 each: ``CCCLoss(dim_weights=(0.4, 0.4))`` (columns: valence, arousal).
        name, dtype: as for any Keras loss (dtype = computation dtype, float32 by default).

    Columns with no valid frame contribute 0 (and zero gradient). CCC edge cases follow
    :func:`tfaffect.metrics.ccc`: identical constant series give CCC 1, a constant prediction
    against varying labels gives CCC 0 with a finite gradient.
    """

    def __init__(self, over="batch", dim_weights=None, name="ccc_loss", dtype=None):
        if over not in ("batch", "sequence"):
            raise ValueError(f"over must be 'batch' or 'sequence', got {over!r}")
        if dim_weights is not None:
            dim_weights = tuple(float(w) for w in dim_weights)
            if not dim_weights or any(w < 0 for w in dim_weights):
                raise ValueError(f"dim_weights must be non-negative numbers, got {dim_weights}")
        super().__init__(name=name, dtype=dtype)
        self.over = over
        self.dim_weights = dim_weights

    def _weighted(self, y_true, y_pred, sample_weight):
        y_true, y_pred, weight = _prepare_regression_tensors(y_true, y_pred, sample_weight, self.dtype)
        num_dims = y_true.shape[-1]
        dim_weights = self.dim_weights or (1.0 / num_dims,) * num_dims
        if len(dim_weights) != num_dims:
            raise ValueError(f"{self.name}: dim_weights={self.dim_weights} has {len(dim_weights)} "
                             f"entries but the outputs have {num_dims} columns (shape "
                             f"{tuple(y_true.shape)})")
        if self.over == "batch":
            flat = (-1, num_dims)
            y_true, y_pred, weight = (ops.reshape(x, flat) for x in (y_true, y_pred, weight))
        elif len(y_true.shape) != 3:
            raise ValueError(f"{self.name}: over='sequence' needs [B, T, D] outputs, got shape "
                             f"{tuple(y_true.shape)}")
        axis = len(y_true.shape) - 2  # the frame axis
        valid = weight > 0
        # The reference only improves precision; it must not carry gradient of its own.
        ref_true = ops.stop_gradient(_first_valid(y_true, valid, ops, axis))
        ref_pred = ops.stop_gradient(_first_valid(y_pred, valid, ops, axis))
        stats = _moments(y_true, y_pred, weight, ops, axis=axis, ref_true=ref_true, ref_pred=ref_pred)
        has_frames = stats.n > 0
        per_column = ops.where(has_frames, 1 - _ccc_from_moments(stats, ops), 0)
        if self.over == "sequence":
            sequences = ops.sum(ops.where(has_frames, 1.0, 0.0), axis=0)
            per_column = _safe_divide(ops.sum(per_column, axis=0), sequences, 0, ops)
        return ops.sum(per_column * ops.convert_to_tensor(dim_weights, dtype=self.dtype))

    def get_config(self):
        return {**super().get_config(), "over": self.over, "dim_weights": self.dim_weights}


@keras.saving.register_keras_serializable(package="tfaffect")
class MaskedMSE(_FrameWeightedLoss):
    """Squared error ``(p - t)^2`` over the valid frames, normalised by their weight, not the batch size.

    Args:
        columns: ``"mean"`` over the output's columns (Kollias 2019, eq. 2; Keras's ``"mse"``) or
            ``"sum"``: the number of columns times that mean over the valid values, i.e. the sum over
            the columns averaged over the frames when a frame's columns are valid or invalid together
            (Do 2020, eq. 3 sums over the components of its 5-vector, which are NaN only as a whole).
    """

    def __init__(self, columns="mean", name="masked_mse", dtype=None):
        if columns not in ("mean", "sum"):
            raise ValueError(f"columns must be 'mean' or 'sum', got {columns!r}")
        super().__init__(name=name, dtype=dtype)
        self.columns = columns

    def _weighted(self, y_true, y_pred, sample_weight):
        y_true, y_pred, weight = _prepare_regression_tensors(y_true, y_pred, sample_weight, self.dtype)
        squared = ops.where(weight > 0, ops.square(y_pred - y_true), 0)
        mean = _safe_divide(ops.sum(weight * squared), ops.sum(weight), 0, ops)
        return mean * y_true.shape[-1] if self.columns == "sum" else mean

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}


@keras.saving.register_keras_serializable(package="tfaffect")
class MaskedSparseCategoricalCrossentropy(_FrameWeightedLoss):
    """Cross-entropy ``-log p[label]`` (Do 2020, eq. 1) averaged over the frames with a valid label.

    ``y_true``: integer labels ``[B]`` or ``[B, T]`` (negative = invalid, as -1 in Aff-Wild2; a
    trailing dimension of 1 is accepted); ``y_pred``: probabilities ``[B, (T,) num_classes]`` (the
    models' softmax outputs). Labels >= num_classes are treated like invalid ones (a traced loss cannot
    raise on values). The mean over frames is not fixed by the paper; it is Keras's usual reduction.
    """

    def __init__(self, name="masked_sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _weighted(self, y_true, y_pred, sample_weight):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        labels = ops.convert_to_tensor(y_true)
        if len(labels.shape) == len(y_pred.shape) and labels.shape[-1] == 1:
            labels = ops.squeeze(labels, -1)
        labels = ops.cast(labels, "int32")
        if _shapes_differ(tuple(labels.shape), tuple(y_pred.shape[:-1])):
            raise ValueError(f"{self.name}: labels have shape {tuple(labels.shape)} but probabilities "
                             f"have shape {tuple(y_pred.shape)}; expected [B, (T)] and [B, (T,) C]")
        num_classes = y_pred.shape[-1]
        weight = ops.squeeze(_frame_weights(sample_weight, ops.expand_dims(labels, -1), self.dtype), -1)
        valid = (labels >= 0) & (labels < num_classes)
        weight = ops.where(valid, weight, 0)
        per_frame = keras.losses.sparse_categorical_crossentropy(ops.where(valid, labels, 0), y_pred)
        per_frame = ops.where(weight > 0, per_frame, 0)
        return _safe_divide(ops.sum(weight * per_frame), ops.sum(weight), 0, ops)


def multitask_losses(spec: Mapping[str, tuple]) -> dict:
    """``{"output name": (loss, weight)}`` -> ``{"loss": {...}, "loss_weights": {...}}`` for ``model.compile``.

    Keras 3 computes the total as ``sum_k weight_k * loss_k(y[k], y_pred[k], sample_weight[k])`` over
    the model's dict outputs, and reports each unweighted ``loss_k`` as ``"<name>_loss"``. Do 2020,
    eq. 4 (w1 = 1.0, w2 = w3 = 0.4, w4 = 0.2) reads, for a model with outputs "expression", "va" and
    an auxiliary 5-vector output (here called "va_aux")::

        model.compile(optimizer, **multitask_losses({
            "expression": (MaskedSparseCategoricalCrossentropy(), 1.0),  # w1 * L_class
            "va": (CCCLoss(dim_weights=(0.4, 0.4)), 1.0),                # w3 * L_val + w2 * L_aro
            "va_aux": (MaskedMSE(), 0.2),                                # w4 * L_mse
        }))
    """
    if not spec:
        raise ValueError("multitask_losses needs at least one output")
    losses, weights = {}, {}
    for name, entry in spec.items():
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise ValueError(f"output {name!r}: expected a (loss, weight) pair, got {entry!r}")
        loss, weight = entry
        if not callable(loss):
            raise ValueError(f"output {name!r}: loss {loss!r} is not callable")
        if not isinstance(weight, Real) or weight < 0:
            raise ValueError(f"output {name!r}: weight must be a non-negative number, got {weight!r}")
        losses[name] = loss
        weights[name] = float(weight)
    return {"loss": losses, "loss_weights": weights}


# --------------------------------------------------------------------------------------------------
# STAT + LSTM (Do 2020, section II.D)

def five_vector_target(va):
    """The MSE branch's target from ``va`` ``[..., 2]`` (valence, arousal): ``[..., 5]`` = ``[a, v, m, |a-m|, |v-m|]``.

    ``m = (a + v) / 2`` (section II.D: "arousal, valence values, average of arousal and valence, and
    two different values between arousal and valence with its average value"; the original generator
    ``datagen_expr_va_frames.py`` computes exactly these, arousal first). Note that
    ``|a - m| = |v - m| = |a - v| / 2``: the last two components are equal by construction. NaN
    (invalid) inputs give NaN rows, which the losses mask.
    """
    va = ops.convert_to_tensor(va)
    valence, arousal = va[..., 0], va[..., 1]
    mean = (arousal + valence) / 2
    return ops.stack([arousal, valence, mean, ops.abs(arousal - mean), ops.abs(valence - mean)], axis=-1)


def stat_lstm_losses(va: bool = True) -> dict:
    """``loss`` and ``loss_weights`` for ``model.compile``: eq. 4, ``1.0 CE + 0.4 CCC(a) + 0.4 CCC(v) + 0.2 MSE``.

    ``"va"`` holds (valence, arousal), so its :class:`CCCLoss` has ``dim_weights=(w3, w2) = (0.4, 0.4)``
    and output weight 1. The MSE is eq. 3's sum over the 5 components, averaged over the valid frames
    (:class:`MaskedMSE` with ``columns="sum"``; the original training code is not published, and the mean
    over frames is Keras's usual reduction, as for the cross-entropy). ``va=False`` (models 1, 3, 5):
    the cross-entropy alone.
    """
    spec = {"expression": (MaskedSparseCategoricalCrossentropy(), STAT_LSTM_LOSS_WEIGHTS["class"])}
    if va:
        spec["va"] = (CCCLoss(dim_weights=(STAT_LSTM_LOSS_WEIGHTS["valence"], STAT_LSTM_LOSS_WEIGHTS["arousal"])),
                      1.0)
        spec["va_aux"] = (MaskedMSE(columns="sum"), STAT_LSTM_LOSS_WEIGHTS["mse"])
    return multitask_losses(spec)


# --------------------------------------------------------------------------------------------------
# ANCLaF (Aspandi 2021, section 3.3)

VA_GRID_BINS = 10  # Aspandi 2021, section 3.3: "V-A classes (discretised by a value of 10)"; 10 x 10 (issue #17)


def va_grid_cell(va, bins: int = VA_GRID_BINS):
    """``[..., 2]`` (valence, arousal) in [-1, 1] -> int32 ``[..., 2]`` cell indices ``(i_v, i_a)`` in ``0..bins-1``.

    Cell ``i`` of a dimension covers ``[-1 + 2i/bins, -1 + 2(i+1)/bins)``; 1 falls in the last cell, values
    beyond +-1 in the nearest edge cell. Valence and arousal each index their own axis (the released code
    indexes the arousal weights by the valence label, a bug not copied; issue #17 item 5).
    """
    va = ops.convert_to_tensor(va)
    index = ops.floor((ops.cast(va, "float32") + 1.0) * (bins / 2.0))
    return ops.cast(ops.clip(index, 0, bins - 1), "int32")


def inverse_frequency_table(va, bins: int = VA_GRID_BINS):
    """The ``bins x bins`` weights of eq. 10 from training labels ``[N, 2]`` (NumPy; NaN rows ignored).

    Weight of cell c = N / (K * f_c), f_c its frame count, K the number of non-empty cells, N the frames: the
    inverse frequency normalised so that the mean weight over the training frames is 1 (eq. 10 prints
    ``f_i / F`` with ``F`` "a normalisation factor"; the text calls it a normalisation for imbalance: the
    inverse frequency is the reading, issue #17 item 5). Empty cells get weight 1 (chosen; no training frame
    falls there). Returns a list of ``bins`` lists (row = valence cell, column = arousal cell).
    """
    import numpy as np

    va = np.asarray(va, dtype=np.float64).reshape(-1, 2)
    va = va[~np.isnan(va).any(axis=1)]
    cells = np.clip(np.floor((va + 1.0) * (bins / 2.0)), 0, bins - 1).astype(int)
    counts = np.zeros((bins, bins))
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    table = np.ones((bins, bins))
    filled = counts > 0
    if filled.any():
        table[filled] = len(va) / (filled.sum() * counts[filled])
    return table.tolist()


@keras.saving.register_keras_serializable(package="tfaffect")
class AnclafAffectLoss(_FrameWeightedLoss):
    """ANCLaF's affect loss (Aspandi 2021, eq. 10-14), per column (valence, arousal), averaged over the columns::

        L = RMSE + (1 - COR) + (1 - CCC) + (1 - ICC)

    with every statistic weighted per frame by ``w = table[i_v][i_a]`` (eq. 10, :func:`va_grid_cell` of the
    frame's label) times its ``sample_weight`` (0 for invalid frames), over all valid frames of the batch
    (``[B, T, 2]`` flattened). With weighted means ``mu`` and population moments::

        RMSE = sqrt(sum w (p - t)^2 / sum w)                                    (eq. 11)
        COR  = cov(p, t) / (sigma_p sigma_t)                                    (eq. 12, Pearson)
        CCC  = 2 cov(p, t) / (sigma_p^2 + sigma_t^2 + (mu_p - mu_t)^2)          (eq. 13, Lin)
        ICC  = 2 cov(p, t) / (sigma_p^2 + sigma_t^2)                            (eq. 14)

    Reading of the typos (issue #17 item 5): eq. 12-14 print the covariance as ``E[(p - mu_p) - (t - mu_t)]``,
    read as the product ``E[(p - mu_p)(t - mu_t)]``; "2x" in eq. 13-14 is read as the factor 2. Eq. 14 is the
    consistency ICC of two raters as printed (Kossaifi 2019). The correlation terms enter as ``1 - r`` so that
    every term is minimised (the released code subtracts ``PCC + CCC + ICC``: the same gradient). A
    correlation with a zero variance is 0 (finite gradient).

    Args:
        table: the ``10 x 10`` weights (:func:`inverse_frequency_table` of the training labels); ``None`` = all
            1 (no balancing).
    """

    def __init__(self, table=None, name="anclaf_affect_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if table is not None:
            table = [[float(v) for v in row] for row in table]
            if len(table) != VA_GRID_BINS or any(len(row) != VA_GRID_BINS for row in table):
                raise ValueError(f"table must be {VA_GRID_BINS} x {VA_GRID_BINS}, got {len(table)} rows")
        self.table = table

    def frame_weights(self, y_true):
        """Eq. 10's weight of every frame ``[...]`` from its label ``[..., 2]`` (1 without a table)."""
        if self.table is None:
            return ops.ones(ops.shape(y_true)[:-1], dtype=self.dtype)
        cells = va_grid_cell(ops.where(ops.isnan(y_true), 0, y_true))
        flat = cells[..., 0] * VA_GRID_BINS + cells[..., 1]
        table = ops.reshape(ops.convert_to_tensor(self.table, dtype=self.dtype), (-1,))
        return ops.take(table, flat)

    def _weighted(self, y_true, y_pred, sample_weight):
        y_true, y_pred, weight = _prepare_regression_tensors(y_true, y_pred, sample_weight, self.dtype)
        weight = weight * ops.expand_dims(self.frame_weights(y_true), -1)
        flat = (-1, y_true.shape[-1])
        y_true, y_pred, weight = (ops.reshape(x, flat) for x in (y_true, y_pred, weight))
        valid = weight > 0
        y_true, y_pred = ops.where(valid, y_true, 0), ops.where(valid, y_pred, 0)
        total = ops.sum(weight, axis=0)
        has_frames = total > 0
        mean_true = _safe_divide(ops.sum(weight * y_true, axis=0), total, 0, ops)
        mean_pred = _safe_divide(ops.sum(weight * y_pred, axis=0), total, 0, ops)
        e_true, e_pred = ops.where(valid, y_true - mean_true, 0), ops.where(valid, y_pred - mean_pred, 0)
        var_true = _safe_divide(ops.sum(weight * e_true * e_true, axis=0), total, 0, ops)
        var_pred = _safe_divide(ops.sum(weight * e_pred * e_pred, axis=0), total, 0, ops)
        cov = _safe_divide(ops.sum(weight * e_true * e_pred, axis=0), total, 0, ops)
        mse = _safe_divide(ops.sum(weight * ops.square(y_pred - y_true), axis=0), total, 0, ops)
        rmse = ops.sqrt(mse + 1e-12)  # the epsilon keeps the gradient finite at a perfect fit
        cor = _safe_divide(cov, ops.sqrt(var_true * var_pred + 1e-12), 0, ops)
        ccc = _safe_divide(2 * cov, var_true + var_pred + ops.square(mean_pred - mean_true), 0, ops)
        icc = _safe_divide(2 * cov, var_true + var_pred, 0, ops)
        per_column = ops.where(has_frames, rmse + (1 - cor) + (1 - ccc) + (1 - icc), 0)
        return ops.mean(per_column)

    def get_config(self):
        return {**super().get_config(), "table": self.table}
