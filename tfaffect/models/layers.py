"""Small building blocks shared by the model families: a config-recording functional model base,
time folding, the Aff-Wild input scaling, a peephole LSTM cell and the windowed-layer protocol
(:func:`context_frames`).

Everything here uses ``keras`` and ``keras.ops`` only, so it runs under every Keras backend
(TensorFlow here, JAX on the accelerator machines).
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "tfaffect"
"""Package name under which tfaffect's Keras objects are registered for (de)serialization."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConfigurableModel(keras.Model):
    """A functional model built in a subclass's ``__init__`` whose ``get_config`` returns that ``__init__``'s arguments.

    Subclasses build their graph, then call ``super().__init__(inputs, outputs, init_config, **kwargs)``
    with ``init_config`` the dict of their own constructor arguments. Keras's default
    ``from_config`` then calls ``cls(**config)``, so a saved ``.keras`` file rebuilds the same
    architecture from the arguments and loads the weights into it.
    """

    def __init__(self, inputs, outputs, init_config: dict, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._init_config = dict(init_config)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, **dict(self._init_config)}


def scale_uint8_to_unit_range(name: str = "preprocess") -> keras.layers.Layer:
    """The Aff-Wild input scaling: uint8 RGB -> float ``(x - 128) / 128``, i.e. [-1, 127/128].

    Fixed by the original AffWildNet code (dkollias/Aff-Wild-models, FORMATS.md "Aff-Wild"); the
    paper says only that intensities were normalised to [-1, 1] (Kollias 2019, section 3.3).
    ``x / 128 - 1`` is exact in floating point because 1/128 is a power of two.
    """
    return keras.layers.Rescaling(scale=1.0 / 128.0, offset=-1.0, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FoldTime(keras.layers.Layer):
    """``[B, T, ...] -> [B*T, ...]``: fold the time axis into the batch so a per-frame CNN sees B*T frames.

    Row ``b*T + t`` of the output is frame ``t`` of sequence ``b`` (row-major reshape).
    Used instead of ``TimeDistributed``, which is wrong for a ``None`` time length in traced
    graphs with Keras 3.15 (DESIGN.md, known traps) and slower.
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        folded = None if batch is None or time is None else batch * time
        return (folded,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package=PACKAGE)
class UnfoldTime(keras.layers.Layer):
    """``([B*T, F], reference [B, T, ...]) -> [B, T, F]``: undo :class:`FoldTime` for per-frame features.

    The time length ``T`` is read from ``reference`` (the unfolded input) at run time, so ``T`` may be
    ``None`` (variable length) in the model's input signature.
    """

    def call(self, inputs):
        features, reference = inputs
        time = ops.shape(reference)[1]
        return ops.reshape(features, (-1, time) + tuple(features.shape[1:]))

    def compute_output_shape(self, input_shape):
        features_shape, reference_shape = input_shape
        return (reference_shape[0], reference_shape[1]) + tuple(features_shape[1:])


@keras.saving.register_keras_serializable(package=PACKAGE)
class PeepholeLSTMCell(keras.layers.Layer):
    """LSTM cell with peephole connections (Gers & Schmidhuber 2000), for ``keras.layers.RNN``.

    Kollias 2019, section 4.2.1.3 uses "the LSTM neuron model allowing peephole connections";
    Keras 3 has no such cell. With ``z = x W + h_{t-1} U + b`` split into gates (i, f, c, o) in
    Keras's LSTM order, and diagonal peephole weights ``p_i, p_f, p_o``::

        i = sigmoid(z_i + p_i * c_{t-1})        f = sigmoid(z_f + p_f * c_{t-1})
        c_t = f * c_{t-1} + i * tanh(z_c)       o = sigmoid(z_o + p_o * c_t)
        h_t = o * tanh(c_t)

    which is TF1's ``LSTMCell(use_peepholes=True)`` without projection (the TF1 code the paper
    used). With all peephole weights zero it equals ``keras.layers.LSTMCell``, whose weight
    layout (kernel, recurrent_kernel, bias) it shares. Initialisers are not fixed by the paper:
    Keras's LSTM defaults (Glorot-uniform kernel, orthogonal recurrent kernel, zero bias with the
    forget-gate bias at 1, like TF1's ``forget_bias=1.0``); peephole weights Glorot-uniform as in
    tf.keras's former ``PeepholeLSTMCell``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), initializer="orthogonal",
                                                name="recurrent_kernel")

        def bias_initializer(shape, dtype=None):
            return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                    ops.zeros((2 * units,), dtype)])

        self.bias = self.add_weight(shape=(4 * units,), initializer=bias_initializer, name="bias")
        self.peephole_input = self.add_weight(shape=(units,), initializer="glorot_uniform",
                                              name="peephole_input")
        self.peephole_forget = self.add_weight(shape=(units,), initializer="glorot_uniform",
                                               name="peephole_forget")
        self.peephole_output = self.add_weight(shape=(units,), initializer="glorot_uniform",
                                               name="peephole_output")

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.peephole_input * c_prev)
        f = ops.sigmoid(z_f + self.peephole_forget * c_prev)
        c = f * c_prev + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.peephole_output * c)
        h = o * ops.tanh(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardizeLandmarks(keras.layers.Layer):
    """Flattened landmark coordinates ``[..., 136]`` -> ``(x - mean) / std`` per coordinate; a frame whose
    coordinates are all zero (the data contract's "unknown") stays all zero.

    ``mean`` and ``std`` (136 floats each) are statistics of the training data (see
    :func:`tfaffect.data.pipeline.landmark_statistics`), stored in the layer's config, so a saved or
    exported model carries them and takes the same raw coordinates as the data contract.
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        if len(self.mean) != len(self.std) or min(self.std, default=1.0) <= 0:
            raise ValueError(f"{self.name}: mean and std need the same length and std > 0")

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        known = ops.any(ops.not_equal(inputs, 0), axis=-1, keepdims=True)
        return ops.where(known, (inputs - mean) / std, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def context_frames(layer) -> int | None:
    """The frames of history a windowed layer's output at frame t depends on (frame t included), ``None``
    for any other layer.

    The windowed-layer protocol: a layer whose output at frame t is formed from a causal window of the
    frames ``t-s+1 .. t`` of its ``[B, T, D]`` input (``[B, T, s, D]``, oldest first, the first frame
    repeated before the clip) exposes the int attribute ``context_frames = s`` (e.g.
    :class:`tfaffect.models.stat_lstm.CausalWindows`). Export streams such a model with a buffer of the
    last ``s`` vectors (:class:`tfaffect.export.streaming.Windowed`); predict gives it ``s - 1`` frames
    of context before a call's first frame.
    """
    frames = getattr(layer, "context_frames", None)
    return None if frames is None else int(frames)
