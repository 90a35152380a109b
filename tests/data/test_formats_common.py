"""Shared importer helpers: strict number parsing, nearest-timestamp resampling, video length, folds."""

import math

import numpy as np
import pytest

from fixtures import truncate, write_edit_list_mp4, write_text, write_video
from tfaffect.data.formats import _common
from tfaffect.errors import AnnotationError, ConfigError, VideoError


# ----------------------------------------------------------------------------- text parsing


def test_read_lines_strips_crlf_bom_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfvalence,arousal\r\n0.5,0.25\r\n\r\n  \n")
    assert _common.read_lines(path) == ["valence,arousal", "0.5,0.25"]


@pytest.mark.parametrize("data, message, line", [
    (b"", "empty file", None),
    (b"\n \n", "empty file", None),
    (b"0.1\n0.2\n\xff\xfe\n", "not UTF-8", 3),
])
def test_read_lines_errors(tmp_path, data, message, line):
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    with pytest.raises(AnnotationError, match=message) as info:
        _common.read_lines(path)
    assert info.value.path == str(path) and info.value.line == line


def test_read_lines_missing_file_is_annotation_error(tmp_path):
    with pytest.raises(AnnotationError, match="cannot read"):
        _common.read_lines(tmp_path / "nope.txt")


def test_parse_numbers_values_and_line_numbers(tmp_path):
    values = _common.parse_numbers(["0.5, -1", "+1e-1,.25", " 3 ,4."], "f.txt", ncols=2, first_line=2)
    np.testing.assert_array_equal(values, [[0.5, -1.0], [0.1, 0.25], [3.0, 4.0]])


@pytest.mark.parametrize("lines, line, message", [
    (["1,2", "3"], 3, "expected 2 field"),
    (["1,2", "1,2,3"], 3, "expected 2 field"),
    (["1,2", "", "3,4"], 3, "blank line"),
    (["1,x"], 2, "not a number: 'x'"),
    (["nan,1"], 2, "not a number: 'nan'"),
    (["inf,1"], 2, "not a number"),
    (["1_0,1"], 2, "not a number"),
    (["1e999,1"], 2, "floating-point range"),
    ([], 2, "no data rows"),
])
def test_parse_numbers_errors_name_the_line(lines, line, message):
    with pytest.raises(AnnotationError, match=message) as info:
        _common.parse_numbers(lines, "f.txt", ncols=2, first_line=2)
    assert info.value.line == line and info.value.path == "f.txt"


def test_split_header_rejects_numeric_or_blank_first_line():
    with pytest.raises(AnnotationError, match="missing header") as info:
        _common.split_header(["0.1,0.2", "0.3,0.4"], "f.txt")
    assert info.value.line == 1
    with pytest.raises(AnnotationError, match="missing header"):
        _common.split_header([" , ", "0.3,0.4"], "f.txt")
    assert _common.split_header([" valence , arousal"], "f.txt") == ["valence", "arousal"]


def test_check_range_markers_integers_and_line():
    values = np.array([[0.5, -5], [1, -1], [0.2, 1.5]])
    with pytest.raises(AnnotationError, match="1.5 is not a number in \\[-1, 1\\] or -5") as info:
        _common.check_range(values, "f", first_line=2, low=-1, high=1, invalid=(-5,))
    assert info.value.line == 4
    _common.check_range(values[:2], "f", first_line=2, low=-1, high=1, invalid=(-5,))
    with pytest.raises(AnnotationError, match="0.5 is not an integer") as info:
        _common.check_range(np.array([1, 0.5]), "f", first_line=1, low=0, high=6, integer=True)
    assert info.value.line == 2


# ----------------------------------------------------------------------------- resampling


def test_nearest_resample_hand_made_timestamps_with_exact_ties():
    # Ratings every 0.1 s; frames at 20 fps (0.05 s): every odd frame is exactly halfway.
    times = [0.0, 0.1, 0.2, 0.3]
    values = [1.0, 2.0, 4.0, 8.0]
    frames = np.arange(8) / 20.0  # 0, .05, .1, .15, .2, .25, .3, .35
    out = _common.nearest_resample(times, values, frames)
    # hand-derived: ties average the two neighbours; 0.35 is past the end -> last value
    np.testing.assert_allclose(out, [1, 1.5, 2, 3, 4, 6, 8, 8])


def test_nearest_resample_non_ties_multicolumn_and_max_distance():
    times = np.array([0.0, 1.0, 3.0])
    values = np.array([[0.0, 10.0], [1.0, 11.0], [3.0, 13.0]])
    frames = np.array([-0.4, 0.4, 0.6, 1.9, 2.1, 3.4, 4.5])
    out = _common.nearest_resample(times, values, frames, max_distance=1.0)
    expected = [[0, 10], [0, 10], [1, 11], [1, 11], [3, 13], [3, 13], [np.nan, np.nan]]
    np.testing.assert_allclose(out, expected)


def test_nearest_resample_tie_with_nan_is_nan_and_exact_hit_is_not_a_tie():
    out = _common.nearest_resample([0.0, 1.0, 2.0], [1.0, np.nan, 5.0], [0.5, 1.0, 1.5, 2.0])
    assert math.isnan(out[0]) and math.isnan(out[1]) and math.isnan(out[2]) and out[3] == 5.0


def test_nearest_resample_float_rounding_still_a_tie():
    # 0.15 - 0.1 != 0.2 - 0.15 in binary floating point; the paper's tie rule must still apply.
    assert (0.15 - 0.1) != (0.2 - 0.15)
    assert _common.nearest_resample([0.1, 0.2], [2.0, 4.0], [0.15])[0] == pytest.approx(3.0)


def test_nearest_resample_against_brute_force():
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.integers(1, 5, 40)) * 0.25  # exact binary fractions: ties are exact
    values = rng.normal(size=40)
    frames = np.arange(0, times[-1] + 1, 0.125)
    out = _common.nearest_resample(times, values, frames)
    for frame, got in zip(frames, out):
        distance = np.abs(times - frame)
        nearest = np.flatnonzero(distance == distance.min())
        assert got == pytest.approx(values[nearest].mean())


def test_nearest_resample_rejects_unsorted_times():
    with pytest.raises(ValueError):
        _common.nearest_resample([0.0, 0.0], [1, 2], [0.0])


def test_check_timestamps_names_the_line():
    with pytest.raises(AnnotationError, match="not after") as info:
        _common.check_timestamps(np.array([0.0, 0.1, 0.1]), "f", first_line=2)
    assert info.value.line == 4
    with pytest.raises(AnnotationError, match="negative") as info:
        _common.check_timestamps(np.array([-0.1, 0.1]), "f", first_line=2)
    assert info.value.line == 2


# ----------------------------------------------------------------------------- videos


def test_video_length_header_decode_and_mismatch(tmp_path):
    video = write_video(tmp_path / "v.avi", 7, fps=20.0)
    assert _common.video_length(video) == (7, 20.0)
    assert _common.video_length(video, expected_frames=7, decode=True) == (7, 20.0)
    with pytest.raises(AnnotationError, match="8 annotation rows but the video v.avi has 7 frames") as info:
        _common.video_length(video, expected_frames=8, annotation=tmp_path / "a.txt")
    assert info.value.path == str(tmp_path / "a.txt")


def test_video_length_unreadable_and_truncated(tmp_path):
    garbage = write_text(tmp_path / "g.avi", "not a video at all")
    with pytest.raises(VideoError):
        _common.video_length(garbage)
    video = truncate(write_video(tmp_path / "t.avi", 10, noise=True), 0.7)
    # the header still announces 10 frames: trusted without decode, caught with decode
    assert _common.video_length(video, expected_frames=10) == (10, 25.0)
    with pytest.raises(VideoError, match="truncated") as info:
        _common.video_length(video, expected_frames=10, decode=True, annotation=tmp_path / "a.txt")
    assert info.value.path == str(video) and 0 < info.value.frame < 10
    assert str(tmp_path / "a.txt") in str(info.value)
    # without an annotation to confirm it, the header is not trusted: the frames that decode are counted
    decoded = info.value.frame
    assert _common.video_length(video) == (decoded, 25.0)
    assert _common.video_length(video, expected_frames=decoded) == (decoded, 25.0)


def test_video_length_of_an_mp4_with_an_edit_list(tmp_path):
    """Issue #12: the header announces 12 frames, 9 decode. Annotations of 9 rows fit; annotations of 12 rows
    need frames that do not exist: a VideoError naming the video, the annotation and the first missing frame."""
    video = write_edit_list_mp4(tmp_path / "e.mp4", 12, 3)
    assert _common.video_length(video) == (9, 25.0)
    assert _common.video_length(video, expected_frames=9) == (9, 25.0)
    with pytest.raises(VideoError, match="only 9 of the 12 frames") as info:
        _common.video_length(video, expected_frames=12, decode=True, annotation=tmp_path / "a.txt")
    assert info.value.path == str(video) and info.value.frame == 9 and "a.txt" in str(info.value)


def test_find_video_ambiguous(tmp_path):
    assert _common.find_video(tmp_path, "x") is None
    write_text(tmp_path / "x.avi", "")
    assert _common.find_video(tmp_path, "x") == tmp_path / "x.avi"
    write_text(tmp_path / "x.mp4", "")
    with pytest.raises(VideoError, match="several videos"):
        _common.find_video(tmp_path, "x")


# ----------------------------------------------------------------------------- folds


def test_assign_folds_contiguous_blocks_last_takes_remainder():
    ids = [f"{i:03d}" for i in range(1, 13)]  # 12 clips, 5 folds: 2 per fold, the last takes 4
    folds = _common.assign_folds(reversed(ids), 5)
    assert [folds[i] for i in ids] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4]


def test_assign_folds_by_subject_keeps_subjects_together():
    subjects = {"a1": "S2", "a2": "S1", "a3": "S2", "a4": "S3", "a5": "S4"}
    folds = _common.assign_folds(subjects, 2, subjects)
    # sorted subjects S1 S2 | S3 S4 -> fold 0 | fold 1
    assert folds == {"a1": 0, "a2": 0, "a3": 0, "a4": 1, "a5": 1}
    with pytest.raises(ConfigError, match="no entry"):
        _common.assign_folds(["a1", "zz"], 2, subjects)
    with pytest.raises(ConfigError, match="cannot make 5 folds"):
        _common.assign_folds(subjects, 5, subjects)


def test_fold_splits_roles_and_errors():
    ids = ["c", "a", "b", "d"]
    assert _common.fold_splits(ids, "X", None, None, 2) == [("a", "fold0"), ("b", "fold0"), ("c", "fold1"),
                                                            ("d", "fold1")]
    assert _common.fold_splits(ids, "X", "train", 1, 2) == [("a", "train"), ("b", "train")]
    assert _common.fold_splits(ids, "X", "test", 1, 2) == [("c", "test"), ("d", "test")]
    assert _common.fold_splits(ids, "X", "validation", 1, 2) == [("c", "validation"), ("d", "validation")]
    assert _common.fold_splits(ids, "X", None, 0, 2) == [("a", "test"), ("b", "test"), ("c", "train"),
                                                         ("d", "train")]
    with pytest.raises(ConfigError, match="no official 'train' split"):
        _common.fold_splits(ids, "X", "train", None, 2)
    with pytest.raises(ConfigError, match="fold must be"):
        _common.fold_splits(ids, "X", "train", 2, 2)


def test_read_subject_map(tmp_path):
    path = write_text(tmp_path / "s.csv", "clip,subject\n001,actorA\n002,actorB\n")
    assert _common.read_subject_map(path) == {"001": "actorA", "002": "actorB"}
    bad = write_text(tmp_path / "b.csv", "clip,subject\n001,actorA\n001,actorC\n")
    with pytest.raises(AnnotationError, match="listed twice") as info:
        _common.read_subject_map(bad)
    assert info.value.line == 3
    with pytest.raises(AnnotationError, match="header"):
        _common.read_subject_map(write_text(tmp_path / "h.csv", "001,actorA\n"))
