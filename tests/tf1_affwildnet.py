"""The ORIGINAL AffWildNet graphs (VGG-Face-GRU, ResNet-GRU) in ``tf.compat.v1`` for the conversion tests.

ResNet-GRU (:func:`build_resnet_gru`): see its docstring; TF-slim is not installable with TF 2.21,
so slim's ``resnet_v1_50`` is written here in ``tf.compat.v1`` ops under slim's variable scopes,
following slim's source line by line, independently of tfaffect's Keras layout.

VGG-Face-GRU:

Written from the published layer list (dkollias/Aff-Wild-models ``affwildnet/vggface_gru.py``):
13 conv layers 3x3 stride 1 'SAME' + bias + ReLU in 5 blocks of 2, 2, 3, 3, 3 layers (64, 128,
256, 512, 512 filters), each block followed by a 2x2 stride 2 max-pool with 'SAME' padding; the
last pooling output reshaped to ``[frames, dim]``; ``linear_1`` FC 4096 + ReLU (no dropout: the
code's "if you are testing" branch); ``rnn_1``: reshaped to ``[-1, seq_len, 4096]``,
``tf.nn.dynamic_rnn`` over a ``MultiRNNCell`` of two ``GRUCell(128)``, reshaped back to frames,
then ``xw_plus_b`` with ``weights_rnn`` [128, 2] / ``biases_rnn`` [2] (no ReLU). Variable scopes
are numbered per layer kind from 1 (``conv_1`` .. ``conv_13``, ``linear_1``, ``rnn_1``), as the
original ``get_unique_name_`` does.

The GRU cells are TensorFlow's own TF1 ``GRUCell`` / ``MultiRNNCell`` (still shipped with TF 2.21
under ``tensorflow.python.keras.layers.legacy_rnn``; the public ``tf.compat.v1.nn.rnn_cell`` alias is
refused under Keras 3), so their variable names and arithmetic are TF1's, not a re-statement.
Inputs are float frames already scaled to [-1, 1] (the original ``eval_script.py`` scales
``(x - 128) / 128`` before the network).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl

v1 = tf.compat.v1

VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (filters, conv layers) per block
FC_UNITS = 4096
GRU_UNITS = 128
GRU_LAYERS = 2


def _conv(x, name: str, filters: int):
    with v1.variable_scope(name):
        kernel = v1.get_variable("weights", [3, 3, int(x.shape[-1]), filters])
        y = tf.nn.conv2d(x, kernel, [1, 1, 1, 1], padding="SAME")
        biases = v1.get_variable("biases", [filters])
        return tf.nn.relu(tf.nn.bias_add(y, biases))


def build_vggface_gru(batch_size: int, seq_len: int, image_size: int = 96):
    """The original graph for ``batch_size`` sequences of ``seq_len`` frames.

    Returns:
        ``(graph, images, prediction, global_step)``: ``images`` a float32 placeholder
        ``[batch_size * seq_len, S, S, 3]`` (frame ``b * seq_len + t``), ``prediction``
        ``[batch_size * seq_len, 2]``, and a ``global_step`` variable as a training run's
        checkpoint holds one.
    """
    graph = tf.Graph()
    with graph.as_default():
        frames = batch_size * seq_len
        images = v1.placeholder(tf.float32, [frames, image_size, image_size, 3], name="images")
        x, conv_index = images, 0
        for pool_index, (filters, layers) in enumerate(VGG_BLOCKS, start=1):
            for _ in range(layers):
                conv_index += 1
                x = _conv(x, f"conv_{conv_index}", filters)
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME", name=f"pool_{pool_index}")
        with v1.variable_scope("linear_1"):
            dim = int(np.prod(x.shape[1:]))
            flat = tf.reshape(x, [frames, dim])
            weights = v1.get_variable("weights", [dim, FC_UNITS])
            biases = v1.get_variable("biases", [FC_UNITS])
            x = tf.nn.relu(tf.matmul(flat, weights) + biases)
        with v1.variable_scope("rnn_1"):
            sequences = tf.reshape(x, [-1, seq_len, FC_UNITS])
            cell = rnn_cell_impl.MultiRNNCell([rnn_cell_impl.GRUCell(GRU_UNITS) for _ in range(GRU_LAYERS)])
            outputs, _ = v1.nn.dynamic_rnn(cell, sequences, dtype=tf.float32)
            outputs = tf.reshape(outputs, [frames, GRU_UNITS])
            weights = v1.get_variable("weights_rnn", [GRU_UNITS, 2])
            biases = v1.get_variable("biases_rnn", [2])
            prediction = tf.matmul(outputs, weights) + biases
        global_step = v1.train.get_or_create_global_step()
    return graph, images, prediction, global_step


def random_values(variables, rng: np.random.Generator) -> dict:
    """Random values for the graph's weights, scaled so every layer's signal neither vanishes nor saturates.

    Kernels (2-D or 4-D): normal with std sqrt(2 / fan_in) (He; fan_in = all but the last axis),
    the ``rnn_1`` kernels sqrt(1 / fan_in) so gates stay away from saturation; biases normal with std 0.1
    (convs, FC) or 0.5 (``rnn_1``: GRU gates and candidate, output), so a swapped bias shows. Integer variables
    (``global_step``) get 7.
    """
    values = {}
    for variable in variables:
        shape = tuple(variable.shape)
        if variable.dtype.base_dtype.is_integer:
            values[variable] = np.array(7, dtype=variable.dtype.base_dtype.as_numpy_dtype)
            continue
        recurrent = variable.name.startswith("rnn_1/")
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            std = np.sqrt((1.0 if recurrent else 2.0) / fan_in)
        else:
            std = 0.5 if recurrent else 0.1
        values[variable] = rng.normal(0.0, std, shape).astype(np.float32)
    return values


def initialize(session, values: dict) -> None:
    """Initialise each variable of ``values`` (a :func:`random_values` result) in ``session`` with its value."""
    session.run([variable.initializer for variable in values],
                feed_dict={variable.initial_value: value for variable, value in values.items()})


# --------------------------------------------------------------------------------------------------
# The released ResNet-GRU (dkollias/Aff-Wild-models affwildnet/resnet-gru).

RESNET_BLOCKS = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))  # slim resnet_v1_50: (base_depth, units, stride)
BATCH_NORM_EPSILON = 1e-5  # slim resnet_utils.resnet_arg_scope


def _slim_conv(x, scope: str, filters: int, kernel: int, stride: int, relu: bool):
    """slim ``conv2d`` under ``resnet_arg_scope`` (``resnet_utils.conv2d_same`` for a strided k > 1 conv):
    ``scope/weights`` (no biases), then ``scope/BatchNorm/{beta, gamma, moving_mean, moving_variance}``
    applied with moving statistics (``is_training=False``: slim's fused batch norm), then ReLU."""
    with v1.variable_scope(scope):
        weights = v1.get_variable("weights", [kernel, kernel, int(x.shape[-1]), filters])
        if stride > 1 and kernel > 1:  # conv2d_same: explicit padding, then VALID
            before = (kernel - 1) // 2
            x = tf.pad(x, [[0, 0], [before, kernel - 1 - before], [before, kernel - 1 - before], [0, 0]])
            y = tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding="VALID")
        else:
            y = tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding="SAME")
        with v1.variable_scope("BatchNorm"):
            beta = v1.get_variable("beta", [filters])
            gamma = v1.get_variable("gamma", [filters])
            mean = v1.get_variable("moving_mean", [filters], trainable=False)
            variance = v1.get_variable("moving_variance", [filters], trainable=False)
        y, _, _ = v1.nn.fused_batch_norm(y, gamma, beta, mean=mean, variance=variance,
                                         epsilon=BATCH_NORM_EPSILON, is_training=False)
        return tf.nn.relu(y) if relu else y


def _resnet_v1_50(images):
    """slim ``resnet_v1_50(images, num_classes=None)`` with global pooling: ``[N, 1, 1, 2048]``.

    Written from slim's ``nets/resnet_v1.py`` (``resnet_v1``, ``bottleneck``, ``resnet_v1_block``)
    and ``nets/resnet_utils.py`` (``conv2d_same``, ``subsample``, ``stack_blocks_dense``,
    ``resnet_arg_scope``: max pool 'SAME'), with slim's variable scopes.
    """
    with v1.variable_scope("resnet_v1_50"):
        x = _slim_conv(images, "conv1", 64, 7, 2, relu=True)
        x = tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")
        for block, (base_depth, units, block_stride) in enumerate(RESNET_BLOCKS, start=1):
            depth = 4 * base_depth
            with v1.variable_scope(f"block{block}"):
                for unit in range(1, units + 1):
                    stride = block_stride if unit == units else 1
                    with v1.variable_scope(f"unit_{unit}"), v1.variable_scope("bottleneck_v1"):
                        if int(x.shape[-1]) == depth:
                            shortcut = x if stride == 1 else tf.nn.max_pool2d(x, ksize=1, strides=stride,
                                                                             padding="SAME")
                        else:
                            shortcut = _slim_conv(x, "shortcut", depth, 1, stride, relu=False)
                        residual = _slim_conv(x, "conv1", base_depth, 1, 1, relu=True)
                        residual = _slim_conv(residual, "conv2", base_depth, 3, stride, relu=True)
                        residual = _slim_conv(residual, "conv3", depth, 1, 1, relu=False)
                        x = tf.nn.relu(shortcut + residual)
        return tf.reduce_mean(x, [1, 2], keepdims=True)


def build_resnet_gru(batch_size: int, seq_len: int, image_size: int = 96):
    """The released ResNet-GRU graph (``affwildnet/resnet-gru``) for ``batch_size`` sequences of ``seq_len`` frames.

    slim ``resnet_v1_50`` (no FC layer after it), then scope ``rnn``: ``dynamic_rnn`` over a
    ``MultiRNNCell`` of two ``GRUCell(128)`` on the ``[B, T, 2048]`` pooled features, and
    ``xw_plus_b`` with ``weights_output`` [128, 2] / ``biases_output`` [2]. Returns what
    :func:`build_vggface_gru` returns.
    """
    graph = tf.Graph()
    with graph.as_default():
        frames = batch_size * seq_len
        images = v1.placeholder(tf.float32, [frames, image_size, image_size, 3], name="images")
        net = _resnet_v1_50(images)
        with v1.variable_scope("rnn"):
            sequences = tf.reshape(net, [batch_size, seq_len, -1])
            cell = rnn_cell_impl.MultiRNNCell([rnn_cell_impl.GRUCell(GRU_UNITS) for _ in range(GRU_LAYERS)])
            outputs, _ = v1.nn.dynamic_rnn(cell, sequences, dtype=tf.float32)
            outputs = tf.reshape(outputs, [frames, GRU_UNITS])
            weights = v1.get_variable("weights_output", [GRU_UNITS, 2])
            biases = v1.get_variable("biases_output", [2])
            prediction = v1.nn.xw_plus_b(outputs, weights, biases)
        global_step = v1.train.get_or_create_global_step()
    return graph, images, prediction, global_step


def random_resnet_values(variables, rng: np.random.Generator) -> dict:
    """Random values for the ResNet-GRU graph's weights, scaled so the signal stays O(1) through 16 units.

    Conv kernels normal with std sqrt(2 / fan_in) (He); batch norm ``moving_mean`` and ``beta``
    normal (std 0.05), ``moving_variance`` uniform [0.5, 1.5], ``gamma`` uniform [0.5, 1.5] except in
    ``conv3`` and ``shortcut``, whose outputs are added: there uniform [0.4, 0.6], so the residual
    sums neither grow nor shrink much over the 16 units (pooled features ~1, varying by ~15% between
    frames; larger offsets or smaller gains leave features that hardly depend on the frame). GRU
    and output weights as :func:`random_values` does for ``rnn_1`` (std sqrt(1 / fan_in), biases
    std 0.5). ``global_step`` gets 7.
    """
    values = {}
    for variable in variables:
        name, shape = variable.name.split(":")[0], tuple(variable.shape)
        if variable.dtype.base_dtype.is_integer:
            values[variable] = np.array(7, dtype=variable.dtype.base_dtype.as_numpy_dtype)
            continue
        leaf = name.rsplit("/", 1)[-1]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt((1.0 if name.startswith("rnn/") else 2.0) / fan_in), shape)
        elif leaf == "gamma":
            added = "/conv3/" in name or "/shortcut/" in name
            value = rng.uniform(0.4, 0.6, shape) if added else rng.uniform(0.5, 1.5, shape)
        elif leaf == "moving_variance":
            value = rng.uniform(0.5, 1.5, shape)
        else:  # moving_mean, beta; GRU and output biases
            value = rng.normal(0.0, 0.5 if name.startswith("rnn/") else 0.05, shape)
        values[variable] = value.astype(np.float32)
    return values
