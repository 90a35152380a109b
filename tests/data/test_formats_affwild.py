"""Aff-Wild importer on a fixture in the published layout."""

import numpy as np
import pytest

from fixtures import truncate, write_affwild, write_text, write_video
from tfaffect.data.formats import affwild, get_format
from tfaffect.data.video import iter_frames
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError, VideoError


@pytest.fixture
def dataset(tmp_path):
    return tmp_path, write_affwild(tmp_path)


def test_records_match_the_fixture(dataset):
    root, truth = dataset
    records = list(get_format("affwild").iter_records(root))
    assert [(r.split, r.video_id) for r in records] == [("train", "105"), ("train", "212"), ("test", "301")]
    for record in records:
        t = truth[(record.split, record.video_id)]
        assert record.num_frames == t["num_frames"]
        assert record.fps == pytest.approx(t["fps"])
        assert record.video_path.endswith(record.video_id + t["ext"])
        assert record.frame_paths is None and record.has_image.all()
        np.testing.assert_allclose(record.valence, t["valence"], rtol=1e-6)
        np.testing.assert_allclose(record.arousal, t["arousal"], rtol=1e-6)
        assert record.valence.dtype == np.float32


def test_split_filter_and_validation_ids(dataset):
    root, _ = dataset
    assert [r.video_id for r in affwild.iter_records(root, "test")] == ["301"]
    records = list(affwild.iter_records(root, validation_ids=["212"]))
    assert [(r.split, r.video_id) for r in records] == [("train", "105"), ("validation", "212"), ("test", "301")]
    with pytest.raises(ConfigError, match="split"):
        list(affwild.iter_records(root, "validation"))
    with pytest.raises(ConfigError, match="not among the training videos"):
        list(affwild.iter_records(root, validation_ids=["301"]))


def test_validation_videos_holds_out_an_even_spread_of_the_training_videos(dataset):
    # 252 ids, 38 held out (MM-Net): k-th = sorted ids[floor((k + 0.5) * 252 / 38)], i.e. 3, 9, 16, 23, ...
    ids = [f"{i:03d}" for i in range(252)]
    chosen = affwild.spread_ids(reversed(ids), 38)
    assert len(set(chosen)) == 38 and chosen[:4] == ["003", "009", "016", "023"] and chosen[-1] == "248"
    assert affwild.spread_ids(["b", "a", "c"], 1) == ["b"]
    root, _ = dataset  # training videos 105 and 212: one held out, the middle one of two is the second
    records = list(affwild.iter_records(root, validation_videos=1))
    assert [(r.split, r.video_id) for r in records] == [("train", "105"), ("validation", "212"), ("test", "301")]
    for bad in (0, 2, True, "1"):
        with pytest.raises(ConfigError, match="validation_videos"):
            list(affwild.iter_records(root, validation_videos=bad))
    with pytest.raises(ConfigError, match="without validation_ids"):
        list(affwild.iter_records(root, validation_videos=1, validation_ids=["105"]))


def test_row_count_must_match_the_frames(dataset):
    root, _ = dataset
    path = root / "annotations/train/valence/105.txt"
    write_text(path, "0.1\n0.2\n0.3\n0.4\n0.5\n0.6\n")
    with pytest.raises(AnnotationError, match="5 arousal rows but 6 valence rows"):
        list(affwild.iter_records(root, "train"))
    write_text(root / "annotations/train/arousal/105.txt", "0.1\n0.2\n0.3\n0.4\n0.5\n0.6\n")
    with pytest.raises(AnnotationError, match="6 annotation rows but the video 105.avi has 5 frames") as info:
        list(affwild.iter_records(root, "train"))
    assert info.value.path == str(path)


@pytest.mark.parametrize("text, line, message", [
    ("0.1\n1.5\n0.3\n0.4\n0.5\n", 2, "1.5 is not a number in \\[-1, 1\\]"),
    ("0.1\n0.2\nabc\n0.4\n0.5\n", 3, "not a number: 'abc'"),
    ("0.1\n0.2\n\n0.4\n0.5\n", 3, "blank line"),
    ("", None, "empty file"),
])
def test_bad_values_name_file_and_line(dataset, text, line, message):
    root, _ = dataset
    path = write_text(root / "annotations/train/arousal/105.txt", text)
    with pytest.raises(AnnotationError, match=message) as info:
        list(affwild.iter_records(root, "train"))
    assert info.value.path == str(path) and info.value.line == line


def test_missing_pieces(dataset):
    root, _ = dataset
    (root / "annotations/test/arousal/301.txt").unlink()
    with pytest.raises(AnnotationError, match="no arousal annotation"):
        list(affwild.iter_records(root, "test"))
    (root / "videos/train/212.mp4").unlink()
    with pytest.raises(VideoError, match="no video 212.avi or 212.mp4") as info:
        list(affwild.iter_records(root, "train"))
    assert info.value.path == str(root / "annotations/train/valence/212.txt")


def test_unlabelled_split_and_truncated_video(tmp_path, caplog):
    with pytest.raises(MissingResourceError, match="videos/ and annotations/"):
        list(affwild.iter_records(tmp_path))
    write_video(tmp_path / "videos/test/9.avi", 10, noise=True)
    (record,) = affwild.iter_records(tmp_path, "test")
    assert record.num_frames == 10 and record.valence is None and not record.va_valid.any()
    truncate(tmp_path / "videos/test/9.avi", 0.7)
    # Issue #12: decoded frames are the truth. No annotation needs the missing frames, so the record has the
    # frames that decode (the header's 10 would make prepare fail on a valid video), with a warning.
    decoded = sum(1 for _ in iter_frames(tmp_path / "videos/test/9.avi"))
    assert 0 < decoded < 10
    with caplog.at_level("WARNING"):
        for decode in (False, True):
            assert next(affwild.iter_records(tmp_path, "test", decode=decode)).num_frames == decoded
    assert "the header announces 10" in caplog.text
