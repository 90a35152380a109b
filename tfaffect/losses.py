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

__all__ = ["CCCLoss", "MaskedMSE", "MaskedSparseCategoricalCrossentropy", "five_vector_target", "multitask_losses",
           "stat_lstm_losses"]

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
