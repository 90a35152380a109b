"""Aff-Wild2 / ABAW importer on fixtures in the ABAW1 and later-year layouts."""

import logging

import numpy as np
import pytest

from fixtures import AU_NAMES_8, MULTITASK_AU_NAMES, write_affwild2, write_affwild2_multitask, write_text
from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats import affwild2, get_format
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError


def _check(record, t):
    assert record.num_frames == t["num_frames"]
    assert record.subject == record.video_id
    assert [p is not None for p in record.frame_paths] == t["images"]
    for i, path in enumerate(record.frame_paths):
        if path is not None:
            assert path.endswith(f"cropped_aligned/{record.video_id}/{i + 1:05d}.jpg")
    for key in ("valence", "arousal"):
        if key in t:
            np.testing.assert_allclose(getattr(record, key), t[key], rtol=1e-6)
        else:
            assert getattr(record, key) is None
    if "expression" in t:
        np.testing.assert_array_equal(record.expression, t["expression"])
        assert record.expression_classes == t["expression_classes"]
    else:
        assert record.expression is None
    if "aus" in t:
        np.testing.assert_array_equal(record.aus, t["aus"])
        assert record.au_names == t["au_names"]
    else:
        assert record.aus is None


@pytest.mark.parametrize("train_folder, eight", [("Training_Set", False), ("Train_Set", True)])
def test_records_match_the_fixture(tmp_path, caplog, train_folder, eight):
    truth = write_affwild2(tmp_path, train_folder=train_folder, eight_classes=eight)
    with caplog.at_level(logging.WARNING):
        records = list(get_format("affwild2").iter_records(tmp_path))
    assert [(r.split, r.video_id) for r in records] == [
        ("train", "1-30-640x360"), ("train", "10-60-1280x720_left"), ("train", "10-60-1280x720_right"),
        ("train", "video5"), ("validation", "video5"), ("validation", "video7")]
    for record in records:
        _check(record, truth[(record.split, record.video_id)])
    assert records[0].expression_classes == (EXPRESSIONS_7 + ("Other",) if eight else EXPRESSIONS_7)
    assert "video7: no images" in caplog.text


def test_invalid_markers_and_validity_masks(tmp_path):
    write_affwild2(tmp_path)
    record = next(affwild2.iter_records(tmp_path, "train"))
    np.testing.assert_array_equal(record.va_valid, [True, False, True, True, True, True])
    np.testing.assert_array_equal(record.expression_valid, [True, False, True, True, True, True])
    np.testing.assert_array_equal(record.has_image, [True, True, False, True, True, True])
    assert record.au_names == AU_NAMES_8 and (record.aus[3] == -1).all()


def test_landmarks_extension(tmp_path):
    truth = write_affwild2(tmp_path)
    record = next(affwild2.iter_records(tmp_path, "train"))
    np.testing.assert_allclose(record.landmarks, truth[("train", "1-30-640x360")]["landmarks"], rtol=1e-6)
    assert np.isnan(record.landmarks[1]).all() and np.isfinite(record.landmarks[0]).all()
    others = list(affwild2.iter_records(tmp_path))[1:]
    assert all(r.landmarks is None for r in others)
    path = tmp_path / "landmarks/1-30-640x360.txt"
    lines = path.read_text().splitlines()
    write_text(path, "\n".join(lines[:-1]) + "\n")
    with pytest.raises(AnnotationError, match="5 landmark rows but the annotation has 6 frames") as info:
        next(affwild2.iter_records(tmp_path, "train"))
    assert info.value.path == str(path)


def test_tasks_option_and_cross_split_video(tmp_path):
    write_affwild2(tmp_path)
    va_only = list(affwild2.iter_records(tmp_path, tasks=("VA",)))
    assert ("train", "video5") not in [(r.split, r.video_id) for r in va_only]
    assert all(r.expression is None and r.aus is None for r in va_only)
    expr = list(affwild2.iter_records(tmp_path, "train", tasks=["EXPR"]))
    assert [r.video_id for r in expr] == ["1-30-640x360", "video5"]
    # video5: training record carries only the training EXPR labels, validation record only its VA
    train5 = [r for r in affwild2.iter_records(tmp_path, "train") if r.video_id == "video5"][0]
    assert train5.valence is None and train5.expression is not None
    with pytest.raises(ConfigError, match="tasks"):
        list(affwild2.iter_records(tmp_path, tasks=("VA", "FOO")))


def test_tasks_with_different_row_counts_are_padded(tmp_path, caplog):
    write_affwild2(tmp_path)
    write_text(tmp_path / "annotations/EXPR_Set/Training_Set/1-30-640x360.txt",
               ",".join(EXPRESSIONS_7) + "\n0\n1\n2\n3\n")
    (tmp_path / "landmarks/1-30-640x360.txt").unlink()
    with caplog.at_level(logging.WARNING):
        record = next(affwild2.iter_records(tmp_path, "train"))
    assert record.num_frames == 6
    np.testing.assert_array_equal(record.expression, [0, 1, 2, 3, -1, -1])
    assert "different row counts" in caplog.text


@pytest.mark.parametrize("task, text, line, message", [
    ("VA_Set", "0.1,0.2\n0.3,0.4\n", 1, "missing header"),
    ("VA_Set", "arousal,valence\n0.1,0.2\n", 1, "header must be 'valence,arousal'"),
    ("VA_Set", "valence,arousal\n0.1,0.2\n-4,0.1\n", 3, "-4 is not a number in \\[-1, 1\\] or -5"),
    ("VA_Set", "valence,arousal\n0.1\n", 2, "expected 2 field"),
    ("VA_Set", "valence,arousal\n", 2, "no data rows"),
    ("EXPR_Set", "Neutral,Happy\n0\n", 1, "header must name the classes"),
    ("EXPR_Set", ",".join(EXPRESSIONS_7) + "\n0\n7\n", 3, "7 is not an integer in \\[0, 6\\] or -1"),
    ("EXPR_Set", ",".join(EXPRESSIONS_7) + "\n0\n2.5\n", 3, "2.5 is not an integer"),
    ("AU_Set", "AU1,AU2\n0,1\n1,2\n", 3, "2 is not an integer in \\[0, 1\\] or -1"),
    ("AU_Set", "AU1,smile\n0,1\n", 1, "AU names"),
])
def test_bad_annotation_files(tmp_path, task, text, line, message):
    path = write_text(tmp_path / "annotations" / task / "Validation_Set" / "v.txt", text)
    with pytest.raises(AnnotationError, match=message) as info:
        list(affwild2.iter_records(tmp_path, "validation"))
    assert info.value.path == str(path) and info.value.line == line


def test_missing_dataset_and_ambiguous_folders(tmp_path):
    with pytest.raises(MissingResourceError, match="no annotation folder"):
        list(affwild2.iter_records(tmp_path))
    write_affwild2(tmp_path)
    with pytest.raises(MissingResourceError):
        list(affwild2.iter_records(tmp_path, "test"))
    (tmp_path / "annotations/VA_Set/Train_Set").mkdir()
    with pytest.raises(ConfigError, match="keep one"):
        list(affwild2.iter_records(tmp_path, "train"))


def test_multitask_file(tmp_path):
    relative, truth = write_affwild2_multitask(tmp_path)
    records = list(affwild2.iter_records(tmp_path, multitask={"train": relative}))
    assert [(r.split, r.video_id) for r in records] == [("train", "vidA"), ("train", "vidB_left")]
    for record in records:
        t = dict(truth[(record.split, record.video_id)], expression_classes=EXPRESSIONS_7 + ("Other",),
                 au_names=MULTITASK_AU_NAMES)
        _check(record, t)
    assert list(affwild2.iter_records(tmp_path, "train", multitask={"train": tmp_path / relative}))
    with pytest.raises(ConfigError, match="no multitask file given for split 'validation'"):
        list(affwild2.iter_records(tmp_path, "validation", multitask={"train": relative}))


@pytest.mark.parametrize("row, message", [
    ("vidA/00002.jpg,0.5,-0.5,8,1,0,0,0,0,0,0,0,0,0,0,1", "8 is not an integer in \\[0, 7\\]"),
    ("vidA/00002.jpg,0.5,-0.5,1,1,0,0,0,0,0,0,0,0,0,0", "expected 15 field"),
    ("vidA/2.png,0.5,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1", "first field"),
    ("vidA/00000.jpg,0.5,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1", "start at 1"),
    ("vidA/00001.jpg,0.5,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1", "already listed on line 2"),
])
def test_bad_multitask_rows(tmp_path, row, message):
    path = write_text(tmp_path / "mtl.txt", "image,valence,arousal,expression,aus\n"
                      "vidA/00001.jpg,0.5,-0.5,1,1,0,0,0,0,0,0,0,0,0,0,1\n" + row + "\n")
    with pytest.raises(AnnotationError, match=message) as info:
        affwild2.read_multitask(path)
    assert info.value.path == str(path) and info.value.line == 3
