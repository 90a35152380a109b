"""Precise BN (tfaffect.training.trainer.recalibrate_batchnorm) against numpy's statistics of the same data."""

import keras
import numpy as np
import tensorflow as tf

from tfaffect.training.trainer import recalibrate_batchnorm


def _data(batches=5, batch=16, width=3, seed=0):
    rng = np.random.default_rng(seed)
    # each batch drawn around its own centre, so the population variance exceeds the mean batch variance
    return [(rng.normal(rng.normal(2.0, 1.5, width), rng.uniform(0.5, 2.0, width), (batch, width)).astype("float32"),
             np.zeros((batch, 1), "float32")) for _ in range(batches)]


def _model(width=3):
    inputs = keras.Input((width,))
    inner = keras.Sequential([keras.layers.BatchNormalization(name="inner_bn")], name="inner")
    x = inner(inputs)  # a batch norm inside a nested model is found too
    frozen = keras.layers.BatchNormalization(name="frozen_bn")
    frozen.trainable = False
    outputs = frozen(x)
    return keras.Model(inputs, outputs)


def test_moving_statistics_become_the_population_statistics_of_the_batches():
    data = _data()
    model = _model()
    dataset = tf.data.Dataset.from_generator(lambda: iter(data), output_signature=(
        tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None, 1), tf.float32)))
    used = recalibrate_batchnorm(model, dataset, batches=4)  # the first 4 of 5 batches
    assert used == 4
    seen = np.concatenate([x for x, _ in data[:4]])
    bn = model.get_layer("inner").get_layer("inner_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), seen.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), seen.var(axis=0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.99  # restored
    frozen = model.get_layer("frozen_bn")
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(frozen.moving_variance.numpy(), np.ones(3))


def test_fewer_batches_than_asked_average_what_there_is_and_none_change_nothing():
    data = _data(batches=2)
    model = _model()
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate([x for x, _ in data]),
                                                  np.zeros((32, 1), "float32"))).batch(16)
    assert recalibrate_batchnorm(model, dataset, batches=10) == 2
    bn = model.get_layer("inner").get_layer("inner_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.concatenate([x for x, _ in data]).mean(axis=0), rtol=1e-5)
    before = bn.moving_mean.numpy().copy()
    assert recalibrate_batchnorm(model, dataset, batches=0) == 0
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
