"""ANCLaF, Aspandi, Sukno, Schuller & Binefa 2021 (VISAPP): adversarial latent features, a quadrant-conditioned
estimator and LSTM + attention sequence models (Fig. 1, section 3, eq. 1-8).

Models and layers use ``keras`` / ``keras.ops`` only (they run under ``KERAS_BACKEND=jax``); the one exception is
the adversarial ``train_step`` of :class:`ANCLaFNet` (eq. 9, WGAN-GP), which needs a gradient tape and runs
under the TensorFlow backend (the trainer's backend; it imports TensorFlow inside that method only).

The three networks (section 3.1; the released code deckyal/Seq-Att-Affect ``model.py`` fixes their layers,
FORMATS.md "ANCLaF original" and issue #17):

G, latent feature extractor (eq. 1) -- :func:`build_generator`
    A denoising autoencoder on faces in [-1, 1]: 7x7 conv ``g_dim`` (16) + instance norm + ReLU, two 4x4
    stride-2 convs doubling the channels (to 64) each + instance norm + ReLU, ``residual_blocks`` residual
    blocks (3x3 conv, instance norm, ReLU, 3x3 conv, instance norm, plus the input), two 4x4 stride-2
    transposed convs halving the channels + instance norm + ReLU, 7x7 conv to 3 channels, tanh (released
    ``GeneratorMZR``: convs without bias, affine instance norms). The latent Z is the output of the middle
    residual block: ``64 x S/4 x S/4`` (64 x 32 x 32 at the released 128 px).
D, quadrant estimator (eq. 2) -- :func:`build_discriminator`
    PatchGAN on G's reconstruction: ``d_layers`` (6) 4x4 stride-2 convs from ``d_dim`` (64) channels, doubling,
    each + LeakyReLU 0.01, then a 3x3 conv to one real/fake score per patch (``"source"``) and a conv over the
    whole remaining map to the quadrant logits (``quadrant_head="quadrant"``, 4 classes, the paper's
    formulation) or to two valence/arousal values from which the quadrant is derived (``"va"``, the released
    code's variant). Released ``DiscriminatorM``: convs with bias, the two heads without.
C, estimator (eq. 3) -- :func:`build_combiner_encoder` + a dense layer
    On ZQ = Z with Q concatenated as one more channel: 4x4 stride-2 convs from ``c_dim`` (64) channels, doubling,
    each + LeakyReLU 0.01, until the map is 1x1 (five convs from 32x32: a 1,024-d vector), then a dense layer
    to (valence, arousal), linear (released ``Combiner``).

Q as a channel: the quadrant index k (0..3, :func:`quadrant_index`) is written as the constant channel
``2k/3 - 1`` (values -1, -1/3, 1/3, 1, in the range of the other inputs; chosen: the paper says only
"layer-wise concatenation", section 3.1, and the issue "Q concatenated as a channel"). Quadrants (Russell 1980,
the circumplex, counter-clockwise from positive valence, positive arousal): 0 = v >= 0, a >= 0; 1 = v < 0,
a >= 0; 2 = v < 0, a < 0; 3 = v >= 0, a < 0 (chosen numbering).

The sequence models (section 3.2, eq. 4-8) -- :class:`ANCLaFSeqNet`
    ANCLaF-S: per frame the estimator's encoder (the 1,024-d vector of ZQ), an LSTM of ``lstm_units`` (512,
    released ``CombinerSeq``) over the frames, a dense layer to (valence, arousal) per frame (eq. 4).
    ANCLaF-SA (``attention=True``): at frame t the state entering the step, S_{t-1} = [h_{t-1}; c_{t-1}]
    (eq. 5), is aligned with each of the ``attention_span`` (n) most recent combined states S_{t-n} .. S_{t-1}
    by a dense layer on [S_{t-1}; S_k] and a softmax over the states that exist (eq. 5-6); the context vector
    is their weighted sum (eq. 7) and the LSTM input is [encoder vector; context] (eq. 8; the released
    ``CombinerSeqAtt`` with ``useCH``: the input first, then the context). At the first frame there is no
    previous state: the context is zero and all weights are 0 (released: zeros when ``prev_h`` is None).
    Eq. 7 as printed also divides the weighted sum by n; the softmax weights already sum to 1 (a weighted
    average, the text's words), and the released code does not divide: not divided here.
    ``frame_input="features"`` starts from the cached ZQ latents (the per-frame feature cache) instead of
    images.

Choices neither the paper nor the released code fix, or where tfaffect differs on purpose:

- Instance normalisation always uses each image's own statistics (PyTorch's ``track_running_stats=True`` in
  the released code makes evaluation use running averages instead; chosen: the standard definition).
- Keras LSTMs have one bias vector per gate (PyTorch two, b_ih + b_hh): 4u fewer parameters, same function.
- Convolution padding "same" (PyTorch padding 1 for the 4x4 stride-2 convs): the same output sizes.
- Inputs are uint8 RGB scaled to [-1, 1] inside the model, ``x / 127.5 - 1`` (the released code's [-1, 1]).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
from keras import ops

from tfaffect.errors import ConfigError
from tfaffect.models.layers import PACKAGE, ConfigurableModel, FoldTime, UnfoldTime
from tfaffect.models.registry import register_model

IMAGE_SIZE = 128  # released code: 128x128 input in [-1, 1] (FORMATS.md "ANCLaF original"; issue #17 item 1)
G_DIM = 16  # released GeneratorMZR as used: 7x7 conv to 16 channels, two stride-2 convs to 64 (issue #17 item 1)
RESIDUAL_BLOCKS = 1  # released GeneratorMZR: one residual block, whose output is Z (the middle one of one)
D_DIM = 64  # released DiscriminatorM: conv_dim 64 (StarGAN default)
D_LAYERS = 6  # released DiscriminatorM: repeat_num 6, six 4x4 stride-2 convs (issue #17 item 2)
C_DIM = 64  # released Combiner: conv_dim 64, doubling to 1,024 after five convs from 32x32 (issue #17 item 3)
LSTM_UNITS = 512  # released CombinerSeq / CombinerSeqAtt: lstmNeuron 512 (FORMATS.md, issue #17 item 6)
LEAKY_SLOPE = 0.01  # released D and C: LeakyReLU(0.01) (issue #17 item 2)
NORM_EPSILON = 1e-5  # PyTorch InstanceNorm2d default eps (released code)
NUM_QUADRANTS = 4  # section 3.1: "the circumplex quadrant (Q) ... (four quadrants)"
QUADRANT_HEADS = ("quadrant", "va")
"""D's affect head: 4 quadrant logits (the paper, section 3.1) or 2 valence/arousal values (the released code)."""
SEQUENCE_LENGTHS = (2, 4, 8, 16, 32)  # section 3.2: N = {2, 4, 8, 16, 32}, the curriculum
FRAME_INPUTS = ("image", "features")


# --------------------------------------------------------------------------------------------------
# Quadrants

def quadrant_index(va):
    """``[..., 2]`` (valence, arousal) -> int32 quadrant ``[...]``: 0 = (+, +), 1 = (-, +), 2 = (-, -), 3 = (+, -)."""
    valence, arousal = va[..., 0], va[..., 1]
    positive_v = valence >= 0
    positive_a = arousal >= 0
    return ops.cast(ops.where(positive_a, ops.where(positive_v, 0, 1), ops.where(positive_v, 3, 2)), "int32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class QuadrantChannel(keras.layers.Layer):
    """``(Z [N, h, w, C], D's affect head [N, 4 or 2]) -> ZQ [N, h, w, C + 1]``: Z with the quadrant as a channel.

    ``head="quadrant"``: k = argmax of the 4 logits; ``head="va"``: k = :func:`quadrant_index` of the 2 values.
    The channel holds ``2k/3 - 1`` everywhere (see the module docstring). Not differentiable in the head (an
    index), as the released code feeds C a discrete quadrant.
    """

    def __init__(self, head: str = "quadrant", **kwargs):
        super().__init__(**kwargs)
        if head not in QUADRANT_HEADS:
            raise ConfigError(f"quadrant head must be one of {', '.join(QUADRANT_HEADS)}, got {head!r}")
        self.head = head

    def call(self, inputs):
        latent, affect = inputs
        if self.head == "quadrant":
            index = ops.argmax(affect, axis=-1)
        else:
            index = quadrant_index(affect)
        value = ops.cast(index, latent.dtype) * (2.0 / 3.0) - 1.0
        channel = ops.ones_like(latent[..., :1]) * ops.reshape(value, (-1, 1, 1, 1))
        return ops.concatenate([latent, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        latent = input_shape[0]
        return tuple(latent[:-1]) + (latent[-1] + 1,)

    def get_config(self) -> dict:
        return {**super().get_config(), "head": self.head}


# --------------------------------------------------------------------------------------------------
# G, D, C

def _instance_norm(name: str) -> keras.layers.Layer:
    """Affine instance normalisation (released ``InstanceNorm2d(affine=True)``): one group per channel."""
    return keras.layers.GroupNormalization(groups=-1, epsilon=NORM_EPSILON, name=name)


def _check_size(image_size: int, d_layers: int) -> None:
    if image_size < 8 or image_size % 4:
        raise ConfigError(f"image_size must be a multiple of 4, at least 8 (G downsamples twice), got {image_size}")
    latent = image_size // 4
    if latent & (latent - 1):
        raise ConfigError(f"image_size / 4 must be a power of two (C halves the latent map to 1x1), got {image_size}")
    if not 1 <= d_layers or image_size % (2 ** d_layers):
        raise ConfigError(f"d_layers={d_layers}: image_size {image_size} must be divisible by 2^d_layers")


def build_generator(image_size: int = IMAGE_SIZE, g_dim: int = G_DIM, residual_blocks: int = RESIDUAL_BLOCKS,
                    name: str = "generator") -> keras.Model:
    """G (eq. 1): float image ``[N, S, S, 3]`` in [-1, 1] -> ``{"reconstruction": [N, S, S, 3], "latent": Z}``.

    Z is the output of the middle residual block (``residual_blocks`` odd), ``[N, S/4, S/4, 4 g_dim]``.
    """
    if residual_blocks < 1 or residual_blocks % 2 == 0:
        raise ConfigError(f"residual_blocks must be odd (Z is the middle block's output), got {residual_blocks}")
    image = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Conv2D(g_dim, 7, padding="same", use_bias=False, name="conv1")(image)
    x = keras.layers.ReLU(name="relu1")(_instance_norm("norm1")(x))
    dim = g_dim
    for k in (1, 2):  # two 4x4 stride-2 convs, channels doubling (released conv21, conv22)
        dim *= 2
        x = keras.layers.Conv2D(dim, 4, strides=2, padding="same", use_bias=False, name=f"down{k}")(x)
        x = keras.layers.ReLU(name=f"down{k}_relu")(_instance_norm(f"down{k}_norm")(x))
    latent = None
    for k in range(residual_blocks):
        y = keras.layers.Conv2D(dim, 3, padding="same", use_bias=False, name=f"res{k}_conv1")(x)
        y = keras.layers.ReLU(name=f"res{k}_relu")(_instance_norm(f"res{k}_norm1")(y))
        y = keras.layers.Conv2D(dim, 3, padding="same", use_bias=False, name=f"res{k}_conv2")(y)
        y = _instance_norm(f"res{k}_norm2")(y)
        x = keras.layers.Add(name=f"res{k}")([x, y])
        if k == residual_blocks // 2:
            latent = x
    for k in (1, 2):  # two 4x4 stride-2 transposed convs, channels halving (released conv41, conv42)
        dim //= 2
        x = keras.layers.Conv2DTranspose(dim, 4, strides=2, padding="same", use_bias=False, name=f"up{k}")(x)
        x = keras.layers.ReLU(name=f"up{k}_relu")(_instance_norm(f"up{k}_norm")(x))
    x = keras.layers.Conv2D(3, 7, padding="same", use_bias=False, name="conv_out")(x)
    reconstruction = keras.layers.Activation("tanh", name="reconstruction")(x)
    return keras.Model(image, {"reconstruction": reconstruction, "latent": latent}, name=name)


def build_discriminator(image_size: int = IMAGE_SIZE, d_dim: int = D_DIM, d_layers: int = D_LAYERS,
                        quadrant_head: str = "quadrant", name: str = "discriminator") -> keras.Model:
    """D (eq. 2): float image ``[N, S, S, 3]`` -> ``{"source": [N, S/2^L, S/2^L, 1], "affect": [N, 4 or 2]}``."""
    if quadrant_head not in QUADRANT_HEADS:
        raise ConfigError(f"quadrant_head must be one of {', '.join(QUADRANT_HEADS)}, got {quadrant_head!r}")
    image = keras.Input((image_size, image_size, 3), name="image")
    x, dim = image, d_dim
    for k in range(d_layers):
        x = keras.layers.Conv2D(dim, 4, strides=2, padding="same", name=f"conv{k + 1}")(x)
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{k + 1}")(x)
        dim *= 2
    side = image_size // 2 ** d_layers
    source = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, name="source")(x)
    width = NUM_QUADRANTS if quadrant_head == "quadrant" else 2
    affect = keras.layers.Conv2D(width, side, padding="valid", use_bias=False, name="affect_map")(x)
    affect = keras.layers.Flatten(name="affect")(affect)
    return keras.Model(image, {"source": source, "affect": affect}, name=name)


def build_combiner_encoder(latent_size: int, latent_channels: int, c_dim: int = C_DIM,
                           name: str = "combiner_encoder") -> keras.Model:
    """C's encoder (eq. 3): ZQ ``[N, s, s, channels]`` -> ``[N, c_dim * 2^(log2 s - 1)]`` (1,024 at s = 32)."""
    convs = int(round(math.log2(latent_size)))
    zq = keras.Input((latent_size, latent_size, latent_channels), name="zq")
    x, dim = zq, c_dim
    for k in range(convs):
        x = keras.layers.Conv2D(dim, 4, strides=2, padding="same", name=f"conv{k + 1}")(x)
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{k + 1}")(x)
        if k < convs - 1:
            dim *= 2
    x = keras.layers.Flatten(name="vector")(x)
    return keras.Model(zq, x, name=name)


def _scaled_image(image):
    """uint8 RGB -> float in [-1, 1]: ``x / 127.5 - 1`` (the released code's input range)."""
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(image)


def _zq(image_float, generator, discriminator, quadrant_head):
    """ZQ of float frames: Z from G, Q from D on G's reconstruction (eq. 3)."""
    out = generator(image_float)
    affect = discriminator(out["reconstruction"])["affect"]
    return QuadrantChannel(quadrant_head, name="zq")([out["latent"], affect])


# --------------------------------------------------------------------------------------------------
# ANCLaF (frame model) with the adversarial training step (eq. 9)

@keras.saving.register_keras_serializable(package=PACKAGE)
class ANCLaFNet(ConfigurableModel):
    """ANCLaF (eq. 3): ``{"image": uint8 [B, S, S, 3]}`` -> ``{"va": [B, 2]}`` = C([Z; Q]) with G and D inside.

    The nested models are layers named ``"generator"``, ``"discriminator"`` and ``"combiner_encoder"`` (then the
    dense ``"va"``); ZQ is the output of the layer ``"zq"`` (what the feature cache extracts for the sequence
    models). ``compile(..., adversarial=AdversarialConfig(...))`` makes ``fit`` run eq. 9's training
    (:meth:`train_step`); without it ``fit`` trains everything on the compiled loss like any model.
    """

    def __init__(self, image_size: int = IMAGE_SIZE, g_dim: int = G_DIM, residual_blocks: int = RESIDUAL_BLOCKS,
                 d_dim: int = D_DIM, d_layers: int = D_LAYERS, quadrant_head: str = "quadrant", c_dim: int = C_DIM,
                 **kwargs):
        _check_size(image_size, d_layers)
        generator = build_generator(image_size, g_dim, residual_blocks)
        discriminator = build_discriminator(image_size, d_dim, d_layers, quadrant_head)
        encoder = build_combiner_encoder(image_size // 4, 4 * g_dim + 1, c_dim)
        image = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
        zq = _zq(_scaled_image(image), generator, discriminator, quadrant_head)
        va = keras.layers.Dense(2, name="va")(encoder(zq))
        kwargs.setdefault("name", "anclaf")
        config = {"image_size": image_size, "g_dim": g_dim, "residual_blocks": residual_blocks, "d_dim": d_dim,
                  "d_layers": d_layers, "quadrant_head": quadrant_head, "c_dim": c_dim}
        super().__init__({"image": image}, {"va": va}, config, **kwargs)
        self.adversarial = None

    @property
    def generator(self) -> keras.Model:
        return self.get_layer("generator")

    @property
    def discriminator(self) -> keras.Model:
        return self.get_layer("discriminator")

    def combiner_variables(self) -> list:
        """C's trainable variables: its encoder and the output layer."""
        return self.get_layer("combiner_encoder").trainable_variables + self.get_layer("va").trainable_variables

    def zq_from_float(self, image_float, training=False):
        """``(reconstruction, ZQ)`` of float frames in [-1, 1] with this model's G and D."""
        out = self.generator(image_float, training=training)
        affect = self.discriminator(out["reconstruction"], training=training)["affect"]
        return out["reconstruction"], self.get_layer("zq")([out["latent"], affect])

    def combine(self, zq, training=False):
        """C on ZQ: ``[N, 2]`` (valence, arousal)."""
        return self.get_layer("va")(self.get_layer("combiner_encoder")(zq, training=training))

    def compile(self, optimizer="rmsprop", loss=None, *, adversarial=None, **kwargs):
        """Keras's ``compile`` (``optimizer`` trains C, ``loss`` is C's affect loss, also in ``evaluate``); with
        ``adversarial`` (an :class:`AdversarialConfig`), ``fit`` runs the adversarial :meth:`train_step`."""
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        self.adversarial = adversarial
        if adversarial is not None:
            adversarial.discriminator_optimizer.build(self.discriminator.trainable_variables)
            adversarial.generator_optimizer.build(self.generator.trainable_variables)
            self.optimizer.build(self.combiner_variables())
            # Attributes of the model, so ``save_weights`` / ``load_weights`` (the per-epoch backup a run resumes
            # from) carry D's and G's Adam moments and update counts with C's optimizer: a resumed run keeps
            # the n_critic phase instead of restarting both optimizers from zero.
            self.discriminator_optimizer = adversarial.discriminator_optimizer
            self.generator_optimizer = adversarial.generator_optimizer

    def get_compile_config(self):
        return None  # the adversarial settings are objects of a training run, not of the saved model

    def train_step(self, data):
        if self.adversarial is None:
            return super().train_step(data)
        if keras.backend.backend() != "tensorflow":
            raise ConfigError("ANCLaF's adversarial training step needs the TensorFlow backend")
        return _adversarial_step(self, data)


# --------------------------------------------------------------------------------------------------
# Eq. 9: the adversarial training (the released code's WGAN-GP, StarGAN style)

GP_WEIGHT = 10.0  # released code: lambda_gp 10 (FORMATS.md "ANCLaF original"; issue #17 item 4)
REC_WEIGHT = 10.0  # released code: lambda_rec 10, L1 reconstruction (issue #17 item 4)
CLS_WEIGHT = 1.0  # released code: lambda_cls 1 (FORMATS.md "ANCLaF original")
N_CRITIC = 5  # released code: n_critic 5 -- per iteration here (the released code steps per epoch, a bug)
LEARNING_RATE = 1e-4  # released code: Adam lr 1e-4 (FORMATS.md "ANCLaF original"; issue #17 item 4)
ADAM_BETAS = (0.5, 0.999)  # released code: Adam betas (0.5, 0.999)
DISTORT_PROBABILITY = 0.5  # issue #17 item 1: "with p 0.5 one of" the distortions (Aspandi 2019c)
DISTORTIONS = ("downsample", "blur", "noise", "brightness", "greyscale", "occlusion")
"""G's input distortions (issue #17 item 1, after Aspandi 2019c); their strengths are chosen, see :func:`distort`."""
NOISE_STD = 0.1  # chosen: Gaussian noise of std 0.1 in [-1, 1] units (5 % of the range)
BRIGHTNESS_MAX = 0.3  # chosen: a brightness shift uniform in [-0.3, 0.3] in [-1, 1] units
BLUR_KERNEL = (0.25, 0.5, 0.25)  # chosen: separable [1 2 1] / 4 binomial kernel (a Gaussian of sigma ~0.7)
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights (chosen for the greyscale distortion)
OCCLUSION_FRACTION = 0.25  # chosen: a grey square of a quarter of the side at a random place


def make_adversarial(learning_rate: float = LEARNING_RATE, **overrides) -> "AdversarialConfig":
    """An :class:`AdversarialConfig` with fresh Adam optimizers for D and G (lr, betas of the released code)."""
    beta_1, beta_2 = ADAM_BETAS
    return AdversarialConfig(
        discriminator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
        generator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2), **overrides)


@dataclasses.dataclass
class AdversarialConfig:
    """Eq. 9's settings for :meth:`ANCLaFNet.compile` (``adversarial=``); C's optimizer is ``compile``'s own.

    Every iteration: the critic D takes one step on ``-D(I) + D(G(I~)) + gp_weight * GP + cls_weight * L_Q(D(I))``
    (WGAN-GP, Gulrajani 2017: GP = mean over the batch of ``(||grad D(x^)||_2 - 1)^2`` at ``x^ = e I + (1 - e)
    G(I~)``, ``e ~ U(0, 1)`` per image, the gradient of the sum of D's patch scores over the whole image);
    C takes one step on the affect loss of C(ZQ) with ZQ from the current G and D (no gradient into them,
    "on the fly", section 3.3). Every ``n_critic``-th iteration (the 5th, 10th, ...) G takes one step on
    ``-D(G(I~)) + rec_weight * |I - G(I~)|_1 + cls_weight * L_Q(D(G(I~)))``. ``I~`` is I distorted with
    probability ``distort_probability`` (:func:`distort`). L_Q is the quadrant cross-entropy (quadrant head) or
    the valence/arousal MSE (``"va"`` head, the released variant) against the labels' quadrant / values.
    Update counts: ``discriminator_optimizer.iterations`` (every step) and ``generator_optimizer.iterations``.
    """

    discriminator_optimizer: Any
    generator_optimizer: Any
    gp_weight: float = GP_WEIGHT
    rec_weight: float = REC_WEIGHT
    cls_weight: float = CLS_WEIGHT
    n_critic: int = N_CRITIC
    distort_probability: float = DISTORT_PROBABILITY
    seed: int = 0


def distort(image, choice, apply, noise, brightness, corner):
    """G's distorted input I~ (issue #17 item 1): per image ``apply`` (bool ``[N]``) one of :data:`DISTORTIONS`
    (``choice`` int ``[N]``); ``noise`` ``[N, S, S, 3]`` standard normal, ``brightness`` ``[N]`` in [-1, 1],
    ``corner`` ``[N, 2]`` in [0, 1) (where the occlusion goes). Deterministic given those draws (keras.ops only).

    downsample: to half the side (area average) and back (nearest); blur: the [1 2 1]/4 kernel along both axes
    (edge pixels repeated); noise: ``+ NOISE_STD * noise``; brightness: ``+ BRIGHTNESS_MAX * brightness``;
    greyscale: the BT.601 luma in all three channels; occlusion: a square of ``OCCLUSION_FRACTION`` of the side
    set to 0 (grey). Results are clipped to [-1, 1].
    """
    size = image.shape[1]
    half = ops.reshape(image, (-1, size // 2, 2, size // 2, 2, 3))
    half = ops.mean(half, axis=(2, 4))
    down = ops.repeat(ops.repeat(half, 2, axis=1), 2, axis=2)
    padded = ops.concatenate([image[:, :1], image, image[:, -1:]], axis=1)
    k0, k1, k2 = BLUR_KERNEL
    blur = k0 * padded[:, :-2] + k1 * padded[:, 1:-1] + k2 * padded[:, 2:]
    padded = ops.concatenate([blur[:, :, :1], blur, blur[:, :, -1:]], axis=2)
    blur = k0 * padded[:, :, :-2] + k1 * padded[:, :, 1:-1] + k2 * padded[:, :, 2:]
    noisy = image + NOISE_STD * noise
    bright = image + BRIGHTNESS_MAX * ops.reshape(brightness, (-1, 1, 1, 1))
    luma = ops.sum(image * ops.convert_to_tensor(GREY_WEIGHTS, dtype=image.dtype), axis=-1, keepdims=True)
    grey = ops.repeat(luma, 3, axis=-1)
    side = max(1, int(round(OCCLUSION_FRACTION * size)))
    start = ops.cast(ops.floor(corner * (size - side + 1)), "int32")  # [N, 2]
    rows = ops.expand_dims(ops.arange(size, dtype="int32"), 0)
    inside_r = (rows >= start[:, :1]) & (rows < start[:, :1] + side)  # [N, S]
    inside_c = (rows >= start[:, 1:]) & (rows < start[:, 1:] + side)
    inside = ops.expand_dims(ops.expand_dims(inside_r, 2) & ops.expand_dims(inside_c, 1), -1)
    occluded = ops.where(inside, ops.zeros_like(image), image)
    versions = ops.stack([down, blur, noisy, bright, grey, occluded], axis=1)  # [N, 6, S, S, 3]
    picked = ops.take_along_axis(versions, ops.reshape(ops.cast(choice, "int32"), (-1, 1, 1, 1, 1)), axis=1)[:, 0]
    out = ops.where(ops.reshape(apply, (-1, 1, 1, 1)), picked, image)
    return ops.clip(out, -1.0, 1.0)


def _quadrant_loss(affect, va_true, weight, head):
    """L_Q: D's affect head against the labels, weighted per frame (mean over the weighted frames)."""
    if head == "quadrant":
        per_frame = keras.losses.sparse_categorical_crossentropy(quadrant_index(va_true), affect, from_logits=True)
    else:
        per_frame = ops.mean(ops.square(affect - va_true), axis=-1)
    total = ops.sum(weight)
    return ops.sum(weight * per_frame) / ops.maximum(total, 1e-12)


def gradient_penalty(discriminator, real, fake, epsilon):
    """WGAN-GP's penalty: mean over images of ``(||d sum(D_source(x^)) / d x^||_2 - 1)^2``, ``x^ = e real + (1-e) fake``.

    TensorFlow backend (a gradient tape). ``epsilon`` ``[N]`` in [0, 1].
    """
    import tensorflow as tf

    eps = tf.reshape(tf.cast(epsilon, real.dtype), (-1, 1, 1, 1))
    mixed = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        source = discriminator(mixed, training=True)["source"]
        total = tf.reduce_sum(source)
    grad = tape.gradient(total, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def _adversarial_step(model: ANCLaFNet, data):
    """One iteration of eq. 9 (see :class:`AdversarialConfig`); TensorFlow backend."""
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    adv = model.adversarial
    head = model.get_config()["quadrant_head"]
    va_true = tf.convert_to_tensor(y["va"] if isinstance(y, dict) else y)
    valid = tf.logical_not(tf.reduce_any(tf.math.is_nan(va_true), axis=-1))
    weight = tf.ones(tf.shape(va_true)[:-1], tf.float32)
    if sample_weight is not None:
        sw = sample_weight["va"] if isinstance(sample_weight, dict) else sample_weight
        weight = tf.reshape(tf.cast(sw, tf.float32), tf.shape(weight))
    weight = tf.where(valid, weight, 0.0)
    va_clean = tf.where(tf.math.is_nan(va_true), 0.0, va_true)
    real = tf.cast(x["image"], tf.float32) / 127.5 - 1.0
    step = tf.identity(adv.discriminator_optimizer.iterations)  # read now, before the critic update below
    seed = tf.stack([tf.cast(adv.seed, tf.int64), tf.cast(step, tf.int64)])
    batch, size = tf.shape(real)[0], real.shape[1]
    seeds = tf.random.experimental.stateless_split(seed, 6)
    apply = tf.random.stateless_uniform([batch], seeds[0]) < adv.distort_probability
    choice = tf.random.stateless_uniform([batch], seeds[1], maxval=len(DISTORTIONS), dtype=tf.int32)
    noise = tf.random.stateless_normal([batch, size, size, 3], seeds[2])
    brightness = tf.random.stateless_uniform([batch], seeds[3], minval=-1.0, maxval=1.0)
    corner = tf.random.stateless_uniform([batch, 2], seeds[4])
    epsilon = tf.random.stateless_uniform([batch], seeds[5])
    distorted = distort(real, choice, apply, noise, brightness, corner)
    generator, discriminator = model.generator, model.discriminator

    # Critic (every iteration)
    with tf.GradientTape() as tape:
        fake = tf.stop_gradient(generator(distorted, training=True)["reconstruction"])
        out_real = discriminator(real, training=True)
        out_fake = discriminator(fake, training=True)
        d_adv = -tf.reduce_mean(out_real["source"]) + tf.reduce_mean(out_fake["source"])
        d_cls = _quadrant_loss(out_real["affect"], va_clean, weight, head)
        gp = gradient_penalty(discriminator, real, fake, epsilon)
        d_loss = d_adv + adv.cls_weight * d_cls + adv.gp_weight * gp
    d_vars = discriminator.trainable_variables
    adv.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))

    # Generator (every n_critic-th iteration: after this step's critic update, iterations = step + 1)
    def generator_step():
        with tf.GradientTape() as g_tape:
            fake_g = generator(distorted, training=True)["reconstruction"]
            out = discriminator(fake_g, training=True)
            g_adv = -tf.reduce_mean(out["source"])
            g_rec = tf.reduce_mean(tf.abs(real - fake_g))
            g_cls = _quadrant_loss(out["affect"], va_clean, weight, head)
            g_loss = g_adv + adv.rec_weight * g_rec + adv.cls_weight * g_cls
        g_vars = generator.trainable_variables
        adv.generator_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        return g_loss

    tf.cond(tf.equal((step + 1) % adv.n_critic, 0), generator_step, lambda: tf.constant(0.0))

    # Combiner on the current G and D's features (every iteration, no gradient into G or D)
    _, zq = model.zq_from_float(distorted, training=False)
    zq = tf.stop_gradient(zq)
    c_vars = model.combiner_variables()
    with tf.GradientTape() as tape:
        va_pred = model.combine(zq, training=True)
        c_loss = model.compute_loss(x=x, y={"va": va_true}, y_pred={"va": va_pred},
                                    sample_weight=None if sample_weight is None else {"va": weight})
    model.optimizer.apply_gradients(zip(tape.gradient(c_loss, c_vars), c_vars))
    model._loss_tracker.update_state(c_loss)  # what Keras's own train_step does; reported as "loss"
    logs = model.compute_metrics(x, {"va": va_true}, {"va": va_pred},
                                 sample_weight=None if sample_weight is None else {"va": weight})
    logs.update({"d_loss": d_loss, "gradient_penalty": gp, "d_updates": adv.discriminator_optimizer.iterations,
                 "g_updates": adv.generator_optimizer.iterations})
    return logs


# --------------------------------------------------------------------------------------------------
# The sequence models (eq. 4-8)

@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionLSTMCell(keras.layers.Layer):
    """One LSTM step with attention over the ``span`` most recent combined states (eq. 5-8), for ``keras.layers.RNN``.

    States: ``h``, ``c`` ``[B, u]``, the memory of the last ``span`` combined states ``[h; c]`` flattened
    ``[B, span * 2u]`` (oldest first) and how many of them exist ``[B, 1]``. Per step: alignment of
    ``S_{t-1} = [h; c]`` with each remembered ``S_k``: ``e_k = w . [S_{t-1}; S_k] + b`` (``"attention"``
    weights ``[4u, 1]`` and bias), softmax over the existing ones (eq. 5-6), context = sum_k a_k S_k (eq. 7),
    LSTM step on ``[x; context]`` (eq. 8), then ``[h_t; c_t]`` enters the memory. The output is
    ``[h_t, c_t, a_1 .. a_span]`` (``a`` aligned with the memory slots, oldest first; all 0 at the first step).
    The LSTM part is Keras's: gates (i, f, c, o), kernel on the input, recurrent kernel, one bias with the
    forget gate's initialised to 1, so the weights of a ``keras.layers.LSTM`` on the input alone are the first
    rows of this kernel (how an SA model starts from its S model: :func:`attention_from_sequence`).
    """

    def __init__(self, units: int, span: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.span = int(span)
        if self.units < 1 or self.span < 1:
            raise ConfigError(f"AttentionLSTMCell needs units >= 1 and span >= 1, got {units}, {span}")
        self.state_size = [self.units, self.units, self.span * 2 * self.units, 1]
        self.output_size = 2 * self.units + self.span

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1] + 2 * units, 4 * units), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), initializer="orthogonal",
                                                name="recurrent_kernel")

        def bias_initializer(shape, dtype=None):
            return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                    ops.zeros((2 * units,), dtype)])

        self.bias = self.add_weight(shape=(4 * units,), initializer=bias_initializer, name="bias")
        self.attention_kernel = self.add_weight(shape=(4 * units, 1), initializer="glorot_uniform",
                                                name="attention_kernel")
        self.attention_bias = self.add_weight(shape=(1,), initializer="zeros", name="attention_bias")

    def call(self, inputs, states, training=False):
        h_prev, c_prev, memory, count = states
        units, span = self.units, self.span
        memory = ops.reshape(memory, (-1, span, 2 * units))
        current = ops.concatenate([h_prev, c_prev], axis=-1)  # S_{t-1} = [h; c] (eq. 5)
        w_current, w_memory = self.attention_kernel[:2 * units], self.attention_kernel[2 * units:]
        scores = (ops.matmul(current, w_current) + ops.squeeze(ops.matmul(memory, w_memory), -1)
                  + self.attention_bias)  # [B, span]: W_a [S_{t-1}; S_k]
        slots = ops.expand_dims(ops.arange(span, dtype=count.dtype), 0)
        valid = slots >= span - count  # the most recent `count` slots hold states
        scores = ops.where(valid, scores, ops.full_like(scores, -1e9))
        weights = ops.where(valid, ops.softmax(scores, axis=-1), ops.zeros_like(scores))  # eq. 6; none: all 0
        context = ops.sum(ops.expand_dims(weights, -1) * memory, axis=1)  # eq. 7
        z = (ops.matmul(ops.concatenate([inputs, context], axis=-1), self.kernel)
             + ops.matmul(h_prev, self.recurrent_kernel) + self.bias)  # eq. 8
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(z_f) * c_prev + ops.sigmoid(z_i) * ops.tanh(z_c)
        h = ops.sigmoid(z_o) * ops.tanh(c)
        state = ops.concatenate([h, c], axis=-1)
        memory = ops.concatenate([memory[:, 1:], ops.expand_dims(state, 1)], axis=1)
        count = ops.minimum(count + 1, span)
        output = ops.concatenate([h, c, weights], axis=-1)
        return output, [h, c, ops.reshape(memory, (-1, span * 2 * units)), count]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "span": self.span}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SliceLast(keras.layers.Layer):
    """``x[..., start:stop]``."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.stop - self.start,)

    def get_config(self) -> dict:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ANCLaFSeqNet(ConfigurableModel):
    """ANCLaF-S (eq. 4) and, with ``attention=True``, ANCLaF-SA (eq. 5-8): per-frame (valence, arousal) of clips.

    Inputs: ``{"image": uint8 [B, T, S, S, 3]}`` (G and D inside, run once per frame) or, with
    ``frame_input="features"``, ``{"zq": [B, T, (S/4)^2 (4 g_dim + 1)]}`` (the cached latents, each frame's ZQ
    flattened in row-major (y, x, channel) order, as the feature cache stores a layer's output). Output
    ``{"va": [B, T, 2]}``. The LSTM starts from a zero state at each clip's first frame (released
    ``initialize`` per batch); ``attention_span`` is n of ANCLaF-SA-n (the states the attention looks at).
    Layers: ``"combiner_encoder"`` (per frame), ``"lstm"`` (``keras.layers.LSTM`` or an RNN of
    :class:`AttentionLSTMCell`), ``"va"``; with attention the weights are reachable with
    :func:`attention_weights_model`, and ``attention_output=True`` makes them a second output ``{"attention":
    [B, T, n]}`` (what :func:`image_sequence_model` builds for the SavedModel export and ``tfaffect predict``:
    per frame t, slot j = 0 .. n-1 weighs the state [h; c] after frame t - n + j, oldest first; 0 where that
    frame does not exist). Training uses the model without it (its loss is on ``"va"`` only).
    """

    def __init__(self, attention: bool = False, attention_span: int = 8, frame_input: str = "image",
                 image_size: int = IMAGE_SIZE, g_dim: int = G_DIM, residual_blocks: int = RESIDUAL_BLOCKS,
                 d_dim: int = D_DIM, d_layers: int = D_LAYERS, quadrant_head: str = "quadrant", c_dim: int = C_DIM,
                 lstm_units: int = LSTM_UNITS, use_cudnn: bool | str = "auto", attention_output: bool = False,
                 **kwargs):
        _check_size(image_size, d_layers)
        if frame_input not in FRAME_INPUTS:
            raise ConfigError(f"frame_input must be one of {', '.join(FRAME_INPUTS)}, got {frame_input!r}")
        if attention_output and not attention:
            raise ConfigError("attention_output=True needs attention=True (an ANCLaF-S model has no attention)")
        latent_size, channels = image_size // 4, 4 * g_dim + 1
        if frame_input == "image":
            image = keras.Input((None, image_size, image_size, 3), dtype="uint8", name="image")
            inputs, reference = {"image": image}, image
            generator = build_generator(image_size, g_dim, residual_blocks)
            discriminator = build_discriminator(image_size, d_dim, d_layers, quadrant_head)
            frames = _scaled_image(FoldTime(name="fold_time")(image))
            zq = _zq(frames, generator, discriminator, quadrant_head)
        else:
            zq_seq = keras.Input((None, latent_size * latent_size * channels), name="zq")  # as the cache stores it
            inputs, reference = {"zq": zq_seq}, zq_seq
            zq = keras.layers.Reshape((latent_size, latent_size, channels), name="zq_map")(
                FoldTime(name="fold_time")(zq_seq))
        vector = build_combiner_encoder(latent_size, channels, c_dim)(zq)
        vector = UnfoldTime(name="unfold_time")([vector, reference])
        if attention:
            cell = AttentionLSTMCell(lstm_units, attention_span, name="cell")
            out = keras.layers.RNN(cell, return_sequences=True, name="lstm")(vector)
            hidden = SliceLast(0, lstm_units, name="hidden")(out)
        else:
            hidden = keras.layers.LSTM(lstm_units, return_sequences=True, use_cudnn=use_cudnn, name="lstm")(vector)
        outputs = {"va": keras.layers.Dense(2, name="va")(hidden)}
        if attention_output:
            outputs["attention"] = SliceLast(2 * lstm_units, 2 * lstm_units + attention_span, name="attention")(out)
        kwargs.setdefault("name", "anclaf_sa" if attention else "anclaf_s")
        config = {"attention": bool(attention), "attention_span": int(attention_span), "frame_input": frame_input,
                  "image_size": image_size, "g_dim": g_dim, "residual_blocks": residual_blocks, "d_dim": d_dim,
                  "d_layers": d_layers, "quadrant_head": quadrant_head, "c_dim": c_dim, "lstm_units": lstm_units,
                  "use_cudnn": use_cudnn, "attention_output": bool(attention_output)}
        super().__init__(inputs, outputs, config, **kwargs)


def attention_weights_model(model: ANCLaFSeqNet) -> keras.Model:
    """A model with ``model``'s inputs whose output is the attention weights ``[B, T, n]`` of an ANCLaF-SA model
    (per frame, over the memory slots S_{t-n} .. S_{t-1}, oldest first; 0 where no state exists yet)."""
    config = model.get_config()
    if not isinstance(model, ANCLaFSeqNet) or not config["attention"]:
        raise ConfigError(f"{model.name} has no attention (an ANCLaF-SA model, ANCLaFSeqNet(attention=True), has)")
    units = config["lstm_units"]
    out = model.get_layer("lstm").output
    weights = SliceLast(2 * units, 2 * units + config["attention_span"], name="attention")(out)
    return keras.Model(model.inputs, weights, name=f"{model.name}_attention")


def attention_from_sequence(sequence: ANCLaFSeqNet, attention: ANCLaFSeqNet) -> None:
    """Initialise ANCLaF-SA ``attention`` from a trained ANCLaF-S ``sequence`` model (section 3.4: "we add our
    proposed attention mechanism to the pre-trained ANCLaF-S models").

    Every layer with the same name and weight shapes is copied (G, D, the encoder, ``"va"``); the LSTM's kernel
    rows of the frame vector, its recurrent kernel and bias are copied, the kernel rows of the context are set to
    0 (chosen: the SA model then starts as the S model, whatever the attention computes), the attention weights
    keep their initialisation.
    """
    s_config, a_config = sequence.get_config(), attention.get_config()
    if s_config["attention"] or not a_config["attention"]:
        raise ConfigError("attention_from_sequence copies an ANCLaF-S model into an ANCLaF-SA model")
    for layer in attention.layers:
        if not layer.weights or layer.name == "lstm":
            continue
        source = sequence.get_layer(layer.name)
        layer.set_weights(source.get_weights())
    kernel, recurrent, bias = sequence.get_layer("lstm").get_weights()
    cell = attention.get_layer("lstm").cell
    new_kernel = ops.convert_to_numpy(cell.kernel).copy()
    new_kernel[:kernel.shape[0]] = kernel
    new_kernel[kernel.shape[0]:] = 0.0
    cell.kernel.assign(new_kernel)
    cell.recurrent_kernel.assign(recurrent)
    cell.bias.assign(bias)


def image_sequence_model(sequence: ANCLaFSeqNet, frame: keras.Model) -> ANCLaFSeqNet:
    """The image-input model of an ANCLaF-S / -SA ``sequence`` model trained on cached ZQ latents
    (``frame_input="features"``): G and D from the ``frame`` model whose ZQ were cached (an :class:`ANCLaFNet`),
    the encoder, LSTM and ``"va"`` from ``sequence``; an SA model also outputs its attention weights
    (``attention_output=True``). On the same frames it computes what ``sequence`` computes on their cached ZQ;
    it is what a run of these recipes exports (a SavedModel takes face crops, not latents)."""
    config = sequence.get_config()
    if not isinstance(sequence, ANCLaFSeqNet) or config["frame_input"] != "features":
        raise ConfigError(f"{sequence.name}: image_sequence_model needs an ANCLaFSeqNet on cached features "
                          "(frame_input='features')")
    model = ANCLaFSeqNet(**{**config, "frame_input": "image", "attention_output": config["attention"]})
    for name in ("generator", "discriminator"):
        model.get_layer(name).set_weights(frame.get_layer(name).get_weights())
    for layer in model.layers:
        if layer.weights and layer.name not in ("generator", "discriminator"):
            layer.set_weights(sequence.get_layer(layer.name).get_weights())
    return model


# --------------------------------------------------------------------------------------------------
# Published architectures (Tables 1-2). Tiny: 32 px, narrow G / D / C, LSTM of 8, D with 5 layers (32 / 2^5 = 1).

_TINY = {"image_size": 32, "g_dim": 2, "d_dim": 2, "d_layers": 5, "c_dim": 4}


@register_model("anclaf", tiny=_TINY)
def anclaf(**kwargs) -> keras.Model:
    """ANCLaF: G (denoising autoencoder) + D (quadrant) + C on ZQ, per frame (Aspandi 2021, eq. 1-3, Table 1)."""
    return ANCLaFNet(**kwargs)


@register_model("anclaf_s", tiny={**_TINY, "lstm_units": 8})
def anclaf_s(**kwargs) -> keras.Model:
    """ANCLaF-S-n: C's encoder on ZQ + LSTM 512 + FC per frame (Aspandi 2021, eq. 4, Tables 1-2)."""
    return ANCLaFSeqNet(**{"attention": False, **kwargs})


@register_model("anclaf_sa", tiny={**_TINY, "lstm_units": 8, "attention_span": 2})
def anclaf_sa(**kwargs) -> keras.Model:
    """ANCLaF-SA-n: ANCLaF-S with attention over the previous n states [h; c] (Aspandi 2021, eq. 5-8, Tables 1-2)."""
    return ANCLaFSeqNet(**{"attention": True, **kwargs})
