"""Kahou 2015 activity model (section 4): 16x16x10 block extraction, the bag-of-words histogram, the synchrony
autoencoder's equations (checked against NumPy) and its reconstruction loss falling on a toy set."""

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.models.kahou import SynchronyAutoencoder, bag_of_words, video_blocks
from tfaffect.training.kahou import normalise_blocks


def _toy_clip(frames=12, height=20, width=36):
    """Each pixel holds its own position, t * 10000 + row * 100 + column: a block's first pixel names its origin."""
    t, r, c = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    return (t * 10000 + r * 100 + c).astype(np.float32)


def _origin(block):
    value = int(block[0, 0, 0])
    return value // 10000, (value // 100) % 100, value % 100


def test_dense_blocks_cover_the_clip_on_a_grid():
    clip = _toy_clip()
    blocks = video_blocks(clip)  # default stride: half a block (5, 8, 8)
    # time: starts 0 only (12 - 10 = 2 < 5); rows: 0 only (20 - 16 = 4 < 8); columns 0, 8, 16 (36 - 16 = 20)
    assert blocks.shape == (3, 10, 16, 16)
    assert [_origin(b) for b in blocks] == [(0, 0, 0), (0, 0, 8), (0, 0, 16)]
    np.testing.assert_array_equal(blocks[1], clip[0:10, 0:16, 8:24])
    tiled = video_blocks(clip, stride=(10, 16, 16))  # non-overlapping, as the activity model encodes a clip
    assert tiled.shape == (2, 10, 16, 16) and [_origin(b) for b in tiled] == [(0, 0, 0), (0, 0, 16)]


def test_random_blocks_are_crops_of_the_clip():
    clip = _toy_clip()
    blocks = video_blocks(clip, count=7, rng=np.random.default_rng(3))
    assert blocks.shape == (7, 10, 16, 16)
    for block in blocks:
        t, r, c = _origin(block)
        assert t <= 2 and r <= 4 and c <= 20
        np.testing.assert_array_equal(block, clip[t:t + 10, r:r + 16, c:c + 16])


def test_a_short_clip_repeats_its_last_frame():
    clip = _toy_clip(frames=3, height=16, width=16)
    (block,) = video_blocks(clip)
    np.testing.assert_array_equal(block[:3], clip)
    for k in range(3, 10):
        np.testing.assert_array_equal(block[k], clip[2])


def test_blocks_reject_frames_smaller_than_a_block():
    with pytest.raises(ConfigError, match="smaller than a 16x16 block"):
        video_blocks(np.zeros((10, 15, 40)))
    with pytest.raises(ConfigError, match="grey frames"):
        video_blocks(np.zeros((10, 16, 16, 3)))


def test_bag_of_words_by_hand():
    np.testing.assert_allclose(bag_of_words([0, 2, 2, 3], 5), [0.25, 0.0, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(bag_of_words([4], 5), [0, 0, 0, 0, 1])
    with pytest.raises(ConfigError, match="assignment"):
        bag_of_words([0, 5], 5)
    with pytest.raises(ConfigError, match="assignment"):
        bag_of_words([], 5)


def test_block_normalisation_by_hand():
    blocks = np.stack([np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.full((2, 2, 2), 3.0, np.float32)])
    flat = normalise_blocks(blocks)
    expected = (np.arange(8) - 3.5) / np.arange(8).std()
    np.testing.assert_allclose(flat[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(flat[1], np.zeros(8))  # a flat block stays zero


def test_synchrony_autoencoder_equations_match_numpy():
    model = SynchronyAutoencoder(6, hidden=4)
    layer = model.get_layer("sae")
    rng = np.random.default_rng(0)
    w, bh, bv = rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=6)
    layer.set_weights([w.astype(np.float32), bh.astype(np.float32), bv.astype(np.float32)])
    x = rng.normal(size=(5, 6))
    out = model.predict_on_batch(x.astype(np.float32))
    f = x @ w
    h = 1.0 / (1.0 + np.exp(-(f * f + bh)))
    np.testing.assert_allclose(out["code"], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["reconstruction"], (h * f) @ w.T + bv, rtol=1e-4, atol=1e-5)


def test_synchrony_autoencoder_reconstruction_loss_falls_on_a_toy_set():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(256, 3)) @ rng.normal(size=(3, 24))).astype(np.float32)  # rank-3 data in 24 dimensions
    x /= x.std()
    keras.utils.set_random_seed(0)
    model = SynchronyAutoencoder(24, hidden=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss={"reconstruction": "mse"})
    before = float(np.mean((model.predict_on_batch(x)["reconstruction"] - x) ** 2))
    model.fit(x, {"reconstruction": x}, batch_size=64, epochs=30, verbose=0)
    after = float(np.mean((model.predict_on_batch(x)["reconstruction"] - x) ** 2))
    assert before > 0.9  # untrained: x_hat ~ 0, so the error is about the data's variance (1)
    assert after < 0.2 * before, (before, after)


def test_saved_activity_and_audio_models_give_the_same_probabilities(tmp_path, monkeypatch):
    """The activity pipeline fitted on SynthAffect's smoke AFEW layout and an audio SVM fitted on random functionals,
    saved in a run folder and loaded back (load_clip_model), predict what the fitted ones predict."""
    from tfaffect.errors import MissingResourceError
    from tfaffect.data.formats import get_format
    from tfaffect.training.data import synthaffect_layout_root
    from tfaffect.training.kahou import (SMOKE_ACTIVITY, ActivityModel, AudioModel, audio_whitening, fit_audio_svm,
                                         load_clip_model)

    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    root = synthaffect_layout_root("afew", smoke=True)
    fitted = ActivityModel(root, "train", 0, False, SMOKE_ACTIVITY)
    videos = [r.video_path for r in get_format("afew").iter_records(root, "validation")]
    run = tmp_path / "activity_run"
    run.mkdir()
    with pytest.raises(MissingResourceError, match="activity_run"):
        load_clip_model(run)
    fitted.save(run)
    loaded = load_clip_model(run)
    assert isinstance(loaded, ActivityModel)
    np.testing.assert_allclose(loaded.predict(videos), fitted.probabilities("validation"), rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(42, 30)), np.repeat(np.arange(7), 6)
    features[np.arange(42), labels] += 3.0  # learnable
    audio = AudioModel.__new__(AudioModel)
    audio.svm, audio.search = fit_audio_svm(features, labels)
    audio.whitening = audio_whitening(features, fit=True)
    audio_run = tmp_path / "audio_run"
    audio_run.mkdir()
    audio.save(audio_run)
    test = rng.normal(size=(5, 30))
    again = load_clip_model(audio_run)
    assert isinstance(again, AudioModel)
    np.testing.assert_array_equal(again.predict(test), audio.predict(test))
    assert again.predict(test).shape == (5, 7) and not np.allclose(again.predict(test), 0)
