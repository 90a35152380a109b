"""tf.data pipelines (tfaffect.data.pipeline): cuts, coverage, balance, augmentation, data contract.

Datasets are written with test_tfrecord.write_video_frames (uniform JPEGs whose colour encodes the
video and frame) or with hand-made images; every expected value is derived by hand here.
"""

from __future__ import annotations

import collections
import os

import cv2
import numpy as np
import pytest

from tfaffect.data.formats.base import VideoRecord
from tfaffect.data.pipeline import KOLLIAS_QUADRANT_TARGETS, MIRROR_68, make_dataset, num_elements
from tfaffect.errors import ConfigError
from tfaffect.data.tfrecord import read_shard
from test_tfrecord import frame_colour, prepare, write_video_frames

nan = float("nan")


def label_of(video: int, frame: int) -> tuple[float, float, int]:
    """Hand-chosen labels that identify (video, frame): valence, arousal, expression."""
    return (video + frame / 100.0) / 100.0, -frame / 100.0, (video + frame) % 7


def identified_dataset(root, lengths, *, missing=None, frames_per_shard=1000, split="train"):
    """Videos whose labels (label_of), pixels (frame_colour) and landmarks (point p of frame i of video k at
    (p % 16, (i + k) % 16)) tell each frame apart; all in one shard by default."""
    records = []
    for k, n in enumerate(lengths):
        labels = np.array([label_of(k, i) for i in range(n)])
        points = np.stack([np.stack([np.arange(68) % 16, np.full(68, (i + k) % 16)], axis=1) for i in range(n)])
        records.append(write_video_frames(root, k, n, split=split, missing=(missing or {}).get(k, ()),
                                          valence=labels[:, 0], arousal=labels[:, 1],
                                          expression=labels[:, 2].astype(int), landmarks=points.astype(float)))
    prepare(records, os.path.join(root, "out"), frames_per_shard=frames_per_shard)
    return os.path.join(root, "out")


def windows_of(dataset):
    """[(video id, frame indices)] of every window of a with_index dataset, checking labels and pixels."""
    out = []
    for x, y, weight, index in dataset.as_numpy_iterator():
        for b in range(len(index["video_id"])):
            video = index["video_id"][b].decode()
            frames = index["frame"][b].tolist()
            k = int(video[1:])
            for t, i in enumerate(frames):
                if i < 0:
                    assert weight["va"][b, t] == 0 and weight["expression"][b, t] == 0
                    continue
                v, a, e = label_of(k, i)
                np.testing.assert_allclose(y["va"][b, t], [v, a], atol=1e-6)
                assert y["expression"][b, t] == e and weight["va"][b, t] == 1
                assert np.abs(x["image"][b, t].astype(int) - frame_colour(k, i)).max() <= 3
            out.append((video, tuple(frames)))
    return out


def test_training_windows_never_cross_videos(tmp_path):
    lengths = (7, 3, 9, 4, 12)
    data = identified_dataset(tmp_path, lengths)  # all five videos in ONE shard, back to back
    ds = make_dataset(data, "train", mode="windows", seq_len=4, stride=2, batch_size=1, training=True,
                      with_index=True, repeat=False)
    windows = windows_of(ds)
    # By hand, starts 0, 2, ... while start + 4 <= n: n=7 -> 0,2; n=3 -> none; n=9 -> 0,2,4; n=4 -> 0;
    # n=12 -> 0,2,4,6,8.
    expected = {(f"v{k:03d}", tuple(range(s, s + 4))) for k, starts in
                enumerate([(0, 2), (), (0, 2, 4), (0,), (0, 2, 4, 6, 8)]) for s in starts}
    assert sorted(windows) == sorted(expected)
    assert num_elements(data, "train", mode="windows", seq_len=4, stride=2) == 11


def test_each_training_epoch_reads_every_element_once_in_a_new_order(tmp_path):
    data = identified_dataset(tmp_path, (7, 3, 9, 4, 12), frames_per_shard=10)
    ds = make_dataset(data, "train", batch_size=1, training=True, with_index=True, repeat=False)
    epochs = [[(i["video_id"][0], int(i["frame"][0])) for _, _, _, i in ds.as_numpy_iterator()] for _ in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) and len(set(epochs[0])) == len(epochs[0]) == 35
    assert epochs[0] != epochs[1]
    balanced = make_dataset(data, "train", batch_size=5, training=True, balance="expression", repeat=False,
                            tasks=("va",))
    draws = [np.concatenate([y["va"] for _, y, _ in balanced.as_numpy_iterator()]) for _ in range(2)]
    assert len(draws[0]) == len(draws[1]) == 35 and not np.array_equal(draws[0], draws[1])


def test_evaluation_stride_1_covers_every_frame_as_documented(tmp_path):
    data = identified_dataset(tmp_path, (7, 3, 9))
    ds = make_dataset(data, "train", mode="windows", seq_len=4, stride=1, batch_size=3, training=False,
                      with_index=True)
    windows = windows_of(ds)
    counts = collections.Counter((video, i) for video, frames in windows for i in frames if i >= 0)
    # Frame f of a video of n >= 4 frames lies in min(f, n-4) - max(0, f-3) + 1 windows (Li 2017);
    # the 3-frame video gets one window padded with its last frame (index -1).
    assert [counts["v000", i] for i in range(7)] == [1, 2, 3, 4, 3, 2, 1]
    assert [counts["v001", i] for i in range(3)] == [1, 1, 1]
    assert [counts["v002", i] for i in range(9)] == [1, 2, 3, 4, 4, 4, 3, 2, 1]
    assert ("v001", (0, 1, 2, -1)) in windows
    # Deterministic order: video by video, windows by start.
    assert windows == windows_of(ds)
    assert [w[1][0] for w in windows if w[0] == "v002"] == [0, 1, 2, 3, 4, 5]
    assert len(windows) == num_elements(data, "train", mode="windows", seq_len=4, stride=1, training=False) == 11


def test_evaluation_stride_l_adds_a_tail_window(tmp_path):
    data = identified_dataset(tmp_path, (7, 8, 9))
    ds = make_dataset(data, "train", mode="windows", seq_len=4, stride=4, batch_size=2, training=False,
                      with_index=True)
    windows = windows_of(ds)
    # n=7: starts 0, 3 (tail); n=8: 0, 4; n=9: 0, 4, 5 (tail).
    assert windows == [("v000", (0, 1, 2, 3)), ("v000", (3, 4, 5, 6)), ("v001", (0, 1, 2, 3)),
                       ("v001", (4, 5, 6, 7)), ("v002", (0, 1, 2, 3)), ("v002", (4, 5, 6, 7)),
                       ("v002", (5, 6, 7, 8))]


def test_frames_evaluation_reads_every_frame_once_training_only_faces(tmp_path):
    data = identified_dataset(tmp_path, (5, 4), missing={1: (2,)}, frames_per_shard=5)
    ds = make_dataset(data, "train", batch_size=4, training=False, with_index=True)
    seen = []
    for x, y, weight, index in ds.as_numpy_iterator():
        assert x["image"].dtype == np.uint8 and x["image"].shape[1:] == (16, 16, 3)
        for b in range(len(index["frame"])):
            seen.append((index["video_id"][b].decode(), int(index["frame"][b])))
            if seen[-1] == ("v001", 2):
                assert index["has_face"][b] == 0 and not x["image"][b].any()
    assert seen == [("v000", i) for i in range(5)] + [("v001", i) for i in range(4)]
    train = make_dataset(data, "train", batch_size=1, training=True, with_index=True, repeat=False)
    used = sorted((i["video_id"][0].decode(), int(i["frame"][0])) for _, _, _, i in train.as_numpy_iterator())
    assert used == sorted(set(seen) - {("v001", 2)})


def test_data_contract_shapes_dtypes_and_invalid_labels(tmp_path):
    points = np.full((4, 68, 2), nan)
    points[0] = 4.0  # frame 0 has landmarks (pixels of the 16 px crop), the others none
    record = write_video_frames(tmp_path, 0, 4, valence=[0.5, nan, 0.1, -0.2], arousal=[0.1, 0.2, nan, 0.3],
                                expression=[1, -1, 6, 0], landmarks=points)
    data = os.path.join(tmp_path, "out")
    prepare([record], data)
    x, y, weight = next(iter(make_dataset(data, "train", batch_size=4, training=False, landmarks=True)))
    assert set(x) == {"image", "landmarks"} and set(y) == set(weight) == {"va", "expression"}
    assert x["image"].dtype == "uint8" and x["image"].shape == (4, 16, 16, 3)
    assert x["landmarks"].dtype == "float32" and x["landmarks"].shape == (4, 68, 2)
    np.testing.assert_allclose(x["landmarks"][0].numpy(), np.full((68, 2), 4.0 / 16), atol=1e-6)
    assert not x["landmarks"][1:].numpy().any()  # zeros where the landmarks are unknown
    assert y["va"].dtype == "float32" and y["expression"].dtype == "int32"
    np.testing.assert_allclose(y["va"].numpy(), [[0.5, 0.1], [0, 0], [0, 0], [-0.2, 0.3]])
    assert y["expression"].numpy().tolist() == [1, 0, 6, 0]
    assert weight["va"].numpy().tolist() == [1, 0, 0, 1] and weight["expression"].numpy().tolist() == [1, 0, 1, 1]
    x, y, weight = next(iter(make_dataset(data, "train", mode="windows", seq_len=3, batch_size=2, training=False,
                                          tasks=("va",), crop=12, image_size=8)))
    assert set(x) == {"image"} and set(y) == {"va"} and x["image"].shape == (2, 3, 8, 8, 3)
    assert y["va"].shape == (2, 3, 2) and weight["va"].shape == (2, 3)


def test_configuration_errors(tmp_path):
    data = identified_dataset(tmp_path, (5,))
    with pytest.raises(ConfigError, match="training only"):
        make_dataset(data, "train", batch_size=2, training=False, balance="quadrant")
    with pytest.raises(ConfigError, match="stride"):
        make_dataset(data, "train", mode="windows", seq_len=4, stride=5, batch_size=2, training=False)
    with pytest.raises(ConfigError, match="crop"):
        make_dataset(data, "train", batch_size=2, training=True, crop=17)
    with pytest.raises(ConfigError, match="4 non-negative weights"):
        make_dataset(data, "train", batch_size=2, training=True, balance="quadrant", targets=[1, 1])


# ----------------------------------------------------------------------------- balance


def skewed_dataset(root, *, videos=40, frames=50, seed=0):
    """Far-from-balanced labels, clustered by video as in real data: each video (= one shard) mixes runs
    of two expression classes drawn with p = [40, 5, 2, 3, 25, 15, 10]% and runs of two quadrants drawn
    with p = [60, 10, 25, 5]%; 5% of the expressions and valence values are invalid."""
    rng = np.random.default_rng(seed)
    records = []
    for k in range(videos):
        expression = np.repeat(rng.choice(rng.choice(7, 2, p=[.40, .05, .02, .03, .25, .15, .10]), frames // 5), 5)
        quadrant = np.repeat(rng.choice(rng.choice(4, 2, p=[.60, .10, .25, .05]), frames // 10), 10)
        valence = np.where(quadrant % 2 == 0, 0.5, -0.5) * rng.uniform(0.1, 1, frames)
        arousal = np.where(quadrant < 2, 0.5, -0.5) * rng.uniform(0.1, 1, frames)
        expression[rng.random(frames) < 0.05] = -1
        valence[rng.random(frames) < 0.05] = nan
        records.append(write_video_frames(root, k, frames, size=8, valence=valence, arousal=arousal,
                                          expression=expression))
    data = os.path.join(root, "out")
    prepare(records, data, size=8, frames_per_shard=frames)
    return data


def _proportions(classes, num_classes):
    return np.bincount(classes, minlength=num_classes) / len(classes)


def _check_balance(classes, epoch, targets, draws_at_epoch_ends):
    """Proportions over the whole stream and over the last tenth of every epoch, within 2 points.

    ``draws_at_epoch_ends`` is chosen so that 2 points are at least 2.8 binomial standard deviations
    of the largest target, so a correct sampler does not miss by chance.
    """
    classes = np.asarray(classes)
    position = np.arange(len(classes)) % epoch
    last_tenth = classes[position >= epoch - epoch // 10]
    assert len(last_tenth) >= draws_at_epoch_ends
    assert 0.02 >= 2.8 * np.sqrt(targets.max() * (1 - targets.max()) / len(last_tenth))
    for sample in (classes, last_tenth):
        np.testing.assert_array_less(np.abs(_proportions(sample, len(targets)) - targets), 0.02)


def _quadrant(va):
    return (va[..., 0] < 0).astype(int) + 2 * (va[..., 1] < 0).astype(int)


# Balanced paths: the records kept in memory (default), the decoded cache, and per-class shard streams
# (what a split whose records exceed the memory budget gets).
BALANCED_PATHS = {"records": dict(), "cache": dict(cache="memory"), "streams": dict(cache_budget=1)}


@pytest.mark.parametrize("path", BALANCED_PATHS)
def test_balanced_frames_hold_expression_targets_to_the_end_of_every_epoch(tmp_path, path):
    data = skewed_dataset(tmp_path)
    epoch = num_elements(data, "train")
    assert epoch == 2000
    ds = make_dataset(data, "train", batch_size=500, training=True, balance="expression", tasks=("expression",),
                      **BALANCED_PATHS[path])
    classes, valid = [], []
    for _, y, weight in ds.take(20 * epoch // 500).as_numpy_iterator():
        classes.append(y["expression"])
        valid.append(weight["expression"])
    assert np.concatenate(valid).all()  # only frames with a defined class are drawn
    _check_balance(np.concatenate(classes), epoch, np.full(7, 1 / 7), draws_at_epoch_ends=4000)


@pytest.mark.parametrize("path", ["records", "cache"])  # "streams": the frames test above covers it
def test_balanced_windows_hold_kollias_quadrant_targets_by_their_last_frame(tmp_path, path):
    data = skewed_dataset(tmp_path)
    epoch = num_elements(data, "train", mode="windows", seq_len=2, stride=2)
    assert epoch == 40 * 25  # 25 windows per 50-frame video: starts 0, 2, ..., 48
    targets = np.array(KOLLIAS_QUADRANT_TARGETS)
    assert targets.tolist() == [0.43, 0.24, 0.19, 0.14]  # Kollias 2019, section 4.2
    ds = make_dataset(data, "train", mode="windows", seq_len=2, stride=2, batch_size=500, training=True,
                      balance="quadrant", tasks=("va",), **BALANCED_PATHS[path])
    classes = [_quadrant(y["va"][:, -1]) for _, y, _ in ds.take(56 * epoch // 500).as_numpy_iterator()]
    _check_balance(np.concatenate(classes), epoch, targets, draws_at_epoch_ends=5600)


def test_balanced_sampling_reads_the_shards_once_and_draws_windows_within_videos(tmp_path):
    data = identified_dataset(tmp_path, (7, 3, 9, 4, 12), frames_per_shard=10)
    ds = make_dataset(data, "train", mode="windows", seq_len=3, stride=1, batch_size=4, training=True,
                      balance="expression", with_index=True, repeat=False, seed=1)
    for name in os.listdir(data):  # the records are in memory: later passes need no file
        if name.endswith(".tfrecord"):
            os.remove(os.path.join(data, name))
    # windows_of checks each window's labels and pixels against (video, frame); by hand, a video of n
    # frames has starts 0..n-3 (stride 1): 5 + 1 + 7 + 2 + 10 = 25 windows per epoch, 6 batches of 4.
    for _ in range(3):
        windows = windows_of(ds)
        assert len(windows) == 24 == 4 * (num_elements(data, "train", mode="windows", seq_len=3, stride=1) // 4)
        assert all(frames == tuple(range(frames[0], frames[0] + 3)) for _, frames in windows)


# ----------------------------------------------------------------------------- augmentation


def gradient_face(size=16):
    """RGB image with red = 15 * x, green = 15 * y: every crop offset and flip shows different pixels."""
    y, x = np.mgrid[:size, :size]
    return np.stack([15 * x, 15 * y, np.full_like(x, 128)], axis=-1).astype(np.uint8)


def gradient_dataset(root, num_frames, points):
    """One video whose frames are all gradient_face() with the same landmarks; returns (data dir, stored pixels)."""
    path = os.path.join(root, "face.png")
    cv2.imwrite(path, cv2.cvtColor(gradient_face(), cv2.COLOR_RGB2BGR))
    record = VideoRecord("g", "train", num_frames, frame_paths=[path] * num_frames,
                         valence=np.linspace(-1, 1, num_frames), arousal=np.zeros(num_frames),
                         landmarks=np.repeat(points[None], num_frames, axis=0))
    data = os.path.join(root, "out")
    prepare([record], data, jpeg_quality=100)
    jpeg = next(read_shard(os.path.join(data, "train-00000-of-00001.tfrecord")))["image"]
    stored = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return data, stored.astype(int)


def find_transform(image, stored, crop):
    """(x offset, y offset, flipped) of the crop of ``stored`` that ``image`` shows, by trying them all."""
    errors = {}
    for oy in range(stored.shape[0] - crop + 1):
        for ox in range(stored.shape[1] - crop + 1):
            window = stored[oy:oy + crop, ox:ox + crop]
            for flipped in (False, True):
                errors[ox, oy, flipped] = np.abs(image.astype(int) - (window[:, ::-1] if flipped else window)).max()
    best, second = sorted(errors.values())[:2]
    assert best <= 3 < second  # exactly one transform explains the pixels
    return min(errors, key=errors.get)


@pytest.mark.parametrize("cache", [None, "memory"])
def test_augmentation_is_the_same_for_every_frame_of_a_window_and_its_landmarks(tmp_path, cache):
    rng = np.random.default_rng(1)
    points = rng.uniform(3, 12, (68, 2)).round()
    data, stored = gradient_dataset(tmp_path, 40, points)
    ds = make_dataset(data, "train", mode="windows", seq_len=5, stride=1, batch_size=4, training=True, crop=10,
                      flip=True, landmarks=True, seed=5, cache=cache)
    transforms = set()
    for x, _, _ in ds.take(15).as_numpy_iterator():
        for image, landmarks in zip(x["image"], x["landmarks"]):
            assert (image == image[0]).all() and (landmarks == landmarks[0]).all()  # one draw per window
            ox, oy, flipped = find_transform(image[0], stored, 10)
            transforms.add((ox, oy, flipped))
            # The landmarks moved with the pixels: point k (pixel x, y) is now at pixel (x - ox, y - oy)
            # of the 10x10 crop, or, flipped, point k holds the mirror of its partner: (9 - (x - ox), y - oy).
            expected = (points - [ox, oy]) / 10.0
            if flipped:
                expected = np.stack([9 / 10 - expected[:, 0], expected[:, 1]], axis=-1)[list(MIRROR_68)]
            np.testing.assert_allclose(landmarks[0], expected, atol=1e-6)
    assert len(transforms) > 10 and {t[2] for t in transforms} == {False, True}  # random and both flips seen


def test_landmark_flip_swaps_sides_of_a_hand_made_point_set(tmp_path):
    points = np.zeros((68, 2))
    points[0] = (1, 4)     # jaw, image left end
    points[16] = (13, 5)   # jaw, image right end
    points[36] = (4, 6)    # eye corner on the image's left
    points[45] = (11, 7)   # eye corner on the image's right
    points[30] = (8, 9)    # nose tip (on the axis)
    points[48] = (5, 12)   # mouth corner, image left
    points[54] = (10, 11)  # mouth corner, image right
    data, stored = gradient_dataset(tmp_path, 8, points)
    ds = make_dataset(data, "train", batch_size=8, training=True, flip=True, landmarks=True, seed=2)
    flips = set()
    for x, _, _ in ds.take(6).as_numpy_iterator():
        for image, lm in zip(x["image"], x["landmarks"] * 16):
            flipped = find_transform(image, stored, 16)[2]
            flips.add(flipped)
            if not flipped:
                assert lm[[0, 16, 36, 45, 30, 48, 54]].tolist() == [[1, 4], [13, 5], [4, 6], [11, 7], [8, 9],
                                                                    [5, 12], [10, 11]]
            else:  # x -> 15 - x, and left/right points trade places (typed by hand)
                assert lm[[0, 16, 36, 45, 30, 48, 54]].tolist() == [[2, 5], [14, 4], [4, 7], [11, 6], [7, 9],
                                                                    [5, 11], [10, 12]]
    assert flips == {False, True}


def test_mirror_permutation_pairs_left_and_right_points():
    pairs = [(0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9),  # jaw
             (17, 26), (18, 25), (19, 24), (20, 23), (21, 22),                        # brows
             (31, 35), (32, 34),                                                      # nostrils
             (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),              # eyes
             (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),                        # outer lips
             (60, 64), (61, 63), (65, 67)]                                            # inner lips
    on_axis = [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    expected = list(range(68))
    for a, b in pairs:
        expected[a], expected[b] = b, a
    assert list(MIRROR_68) == expected and len(pairs) * 2 + len(on_axis) == 68
    assert all(MIRROR_68[k] == k for k in on_axis)


def test_centre_crop_and_resize_move_landmarks_with_the_pixel_grid(tmp_path):
    points = np.zeros((68, 2))
    points[0] = (6, 9)
    data, stored = gradient_dataset(tmp_path, 2, points)
    x, _, _ = next(iter(make_dataset(data, "train", batch_size=2, training=False, crop=12, image_size=8,
                                     landmarks=True)))
    # Centre crop offset (16 - 12) / 2 = 2: pixel (4, 7) of the 12x12 crop; resized to 8 with pixel centres
    # kept: x' = (4 + 0.5) * 8 / 12 - 0.5 = 2.5, y' = (7 + 0.5) * 8 / 12 - 0.5 = 4.5; divided by 8.
    np.testing.assert_allclose(x["landmarks"][0, 0].numpy(), [2.5 / 8, 4.5 / 8], atol=1e-6)
    # The pixels agree: output pixel (2.5, 4.5), between pixel centres, shows the stored pixel (6, 9).
    image = x["image"][0].numpy().astype(float)
    red = (image[4, 2, 0] + image[4, 3, 0]) / 2
    green = (image[4, 2, 1] + image[5, 2, 1]) / 2
    assert abs(red - stored[9, 6, 0]) <= 4 and abs(green - stored[9, 6, 1]) <= 4


# ----------------------------------------------------------------------------- cache="memory"


def test_cached_evaluation_gives_the_documented_windows_and_the_same_batches(tmp_path):
    data = identified_dataset(tmp_path, (7, 3, 9), missing={2: (4,)}, frames_per_shard=10)
    args = dict(mode="windows", seq_len=4, stride=1, batch_size=3, training=False, with_index=True, crop=12,
                image_size=8, landmarks=True)
    cached = make_dataset(data, "train", cache="memory", **args)
    plain = make_dataset(data, "train", **args)
    for a, b in zip(cached.as_numpy_iterator(), plain.as_numpy_iterator(), strict=True):
        for part_a, part_b in zip(a, b):
            assert part_a.keys() == part_b.keys()
            for key in part_a:
                np.testing.assert_array_equal(part_a[key], part_b[key], err_msg=key)
    # Labels and pixels by hand (windows_of), at the stored size so colours can be compared; all with a face.
    data = identified_dataset(tmp_path / "faces", (7, 3, 9), frames_per_shard=10)
    windows = windows_of(make_dataset(data, "train", mode="windows", seq_len=4, stride=4, batch_size=2,
                                      training=False, with_index=True, cache="memory"))
    assert [w for w in windows if w[0] == "v001"] == [("v001", (0, 1, 2, -1))]
    assert [w for w in windows if w[0] == "v002"] == [("v002", (0, 1, 2, 3)), ("v002", (4, 5, 6, 7)),
                                                      ("v002", (5, 6, 7, 8))]


def test_cached_training_reads_each_element_once_per_epoch_with_fresh_augmentation(tmp_path):
    data = identified_dataset(tmp_path, (7, 3, 9, 4, 12), missing={2: (4,)}, frames_per_shard=10)
    ds = make_dataset(data, "train", batch_size=2, training=True, with_index=True, repeat=False, cache="memory",
                      crop=12, flip=True, seed=3)
    epochs = []
    for _ in range(2):
        epoch = []
        for x, y, weight, index in ds.as_numpy_iterator():
            for b in range(2):
                k, i = int(index["video_id"][b][1:]), int(index["frame"][b])
                v, a, e = label_of(k, i)
                np.testing.assert_allclose(y["va"][b], [v, a], atol=1e-6)
                assert y["expression"][b] == e and x["image"].shape == (2, 12, 12, 3)
                assert np.abs(x["image"][b].astype(int) - frame_colour(k, i)).max() <= 3
                epoch.append((k, i))
        epochs.append(epoch)
    # 35 frames, one without a face (not used in training): 34 per epoch, 17 batches of 2.
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(
        {(k, i) for k, n in enumerate((7, 3, 9, 4, 12)) for i in range(n)} - {(2, 4)})
    assert epochs[0] != epochs[1]


def test_cached_augmentation_differs_between_epochs(tmp_path):
    data, stored = gradient_dataset(tmp_path, 8, np.zeros((68, 2)))
    ds = make_dataset(data, "train", batch_size=8, training=True, repeat=False, crop=10, flip=True, seed=4,
                      cache="memory")
    draws = [[find_transform(image, stored, 10) for x, _, _ in ds.as_numpy_iterator() for image in x["image"]]
             for _ in range(2)]
    assert len(draws[0]) == len(draws[1]) == 8 and draws[0] != draws[1]
    assert {t[2] for t in draws[0] + draws[1]} == {False, True}


def test_cache_refuses_above_its_budget_before_decoding(tmp_path):
    data = identified_dataset(tmp_path, (5, 4))
    pixels = 9 * 16 * 16 * 3  # 9 frames stored at 16x16 RGB: the least the cache must hold
    with pytest.raises(ConfigError, match=r"cache='memory' .* needs .* above the budget .*cache_budget"):
        make_dataset(data, "train", batch_size=2, training=True, cache="memory", cache_budget=pixels - 1)
    with pytest.raises(ConfigError, match="cache must be None or 'memory'"):
        make_dataset(data, "train", batch_size=2, training=True, cache="disk")
    ds = make_dataset(data, "train", batch_size=9, training=False, cache="memory", cache_budget=10 * pixels)
    assert next(iter(ds))[0]["image"].shape == (9, 16, 16, 3)


def test_landmark_statistics_over_frames_with_landmarks_only(tmp_path):
    from tfaffect.data.pipeline import landmark_statistics

    rng = np.random.default_rng(3)
    points = {k: rng.uniform(1, 15, (n, 68, 2)) for k, n in ((0, 6), (1, 4))}
    valid = {0: np.array([1, 1, 0, 1, 1, 1], bool), 1: np.ones(4, bool)}
    records = []
    for k, n in ((0, 6), (1, 4)):
        record = write_video_frames(tmp_path, k, n, landmarks=np.where(valid[k][:, None, None], points[k], np.nan))
        records.append(record)
    validation = write_video_frames(tmp_path, 2, 3, split="validation", landmarks=np.full((3, 68, 2), 8.0))
    data = os.path.join(tmp_path, "out")
    prepare(records + [validation], data)
    mean, std = landmark_statistics(data)
    known = np.concatenate([points[0][valid[0]], points[1]]).reshape(-1, 136) / 16  # stored units: / side 16
    np.testing.assert_allclose(mean, known.mean(0), atol=1e-5)
    np.testing.assert_allclose(std, known.std(0), atol=1e-5)
    np.testing.assert_allclose(landmark_statistics(data, ("validation",))[1], 1e-3)  # constant: the floor
    no_points = os.path.join(tmp_path, "none")
    prepare([write_video_frames(tmp_path / "none", 0, 5)], no_points)
    with pytest.raises(ConfigError, match="no frame of this data has them.*tfaffect prepare .*--landmarks"):
        landmark_statistics(no_points)
