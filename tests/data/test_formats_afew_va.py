"""AFEW-VA importer: JSON per clip, [-10, 10] integers, missing annotations and PNGs, folds."""

import numpy as np
import pytest

from fixtures import write_afew_va, write_text
from tfaffect.data.formats import afew_va, get_format
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError


@pytest.fixture
def dataset(tmp_path):
    return tmp_path, write_afew_va(tmp_path)


def test_records_match_the_fixture(dataset):
    root, truth = dataset
    records = list(get_format("afew_va").iter_records(root))
    assert [r.video_id for r in records] == ["001", "002", "003", "004", "005", "006"]
    for record in records:
        t = truth[record.video_id]
        assert record.num_frames == t["num_frames"]
        assert [p is not None for p in record.frame_paths] == t["images"]
        np.testing.assert_allclose(record.valence, t["valence"], rtol=1e-6)
        np.testing.assert_allclose(record.arousal, t["arousal"], rtol=1e-6)
        np.testing.assert_allclose(record.landmarks, t["landmarks"], rtol=1e-6)
    first = records[0]
    np.testing.assert_array_equal(first.va_valid, [True, True, False, True, True])  # frame 2 not annotated
    assert np.isnan(first.landmarks[3]).all() and first.va_valid[3]  # annotated, no landmarks key
    assert records[1].frame_paths[1] is None and records[1].frame_paths[0].endswith("01/002/00000.png")


def test_folds_without_subjects(dataset):
    root, _ = dataset
    # 6 clips, 5 folds: one clip per fold, the last fold also takes the remainder (005, 006)
    labels = [(r.video_id, r.split) for r in afew_va.iter_records(root)]
    assert labels == [("001", "fold0"), ("002", "fold1"), ("003", "fold2"), ("004", "fold3"),
                      ("005", "fold4"), ("006", "fold4")]
    assert [r.video_id for r in afew_va.iter_records(root, "test", fold=4)] == ["005", "006"]
    assert [r.video_id for r in afew_va.iter_records(root, "train", fold=4)] == ["001", "002", "003", "004"]
    with pytest.raises(ConfigError, match="pass fold="):
        list(afew_va.iter_records(root, "train"))


def test_folds_with_subject_map(dataset):
    root, _ = dataset
    subjects = write_text(root / "subjects.csv", "clip,subject\n001,B\n002,A\n003,B\n004,C\n005,D\n006,A\n")
    records = list(afew_va.iter_records(root, num_folds=2, subjects=subjects))
    # sorted subjects A B | C D -> clips of A and B in fold 0
    assert [(r.video_id, r.split, r.subject) for r in records] == [
        ("001", "fold0", "B"), ("002", "fold0", "A"), ("003", "fold0", "B"), ("004", "fold1", "C"),
        ("005", "fold1", "D"), ("006", "fold0", "A")]


@pytest.mark.parametrize("text, message, line, frame", [
    ('{"frames": {"00000": {"valence": 11, "arousal": 0}}}', "valence 11 is not an integer in \\[-10, 10\\]",
     None, 0),
    ('{"frames": {"00001": {"valence": 1.5, "arousal": 0}}}', "valence 1.5 is not an integer", None, 1),
    ('{"frames": {"00000": {"valence": "3", "arousal": 0}}}', "valence must be a number", None, 0),
    ('{"frames": {"00000": {"arousal": 0}}}', "valence must be a number", None, 0),
    ('{"frames": {"00000": {"valence": 1, "arousal": 0, "landmarks": [[1, 2]]}}}', "68 \\[x, y\\]", None, 0),
    ('{"frames": {"abc": {"valence": 1, "arousal": 0}}}', "frame id 'abc'", None, None),
    ('{"frames": [1, 2]}', "no 'frames' object", None, None),
    ('{"frames": {\n"00000": {"valence": 1,,}}}', "invalid JSON", 2, None),
    ('', "empty file", None, None),
])
def test_bad_json(dataset, text, message, line, frame):
    root, _ = dataset
    path = write_text(root / "02" / "003" / "003.json", text)
    with pytest.raises(AnnotationError, match=message) as info:
        list(afew_va.iter_records(root))
    assert info.value.path == str(path) and info.value.line == line and info.value.frame == frame


def test_missing_dataset_and_clip_in_two_parts(tmp_path, dataset):
    with pytest.raises(MissingResourceError, match="parts 01 .. 12"):
        list(afew_va.iter_records(tmp_path / "nowhere"))
    root, _ = dataset
    write_text(root / "03" / "001" / "001.json", '{"frames": {}}')
    with pytest.raises(ConfigError, match="found in two parts"):
        list(afew_va.iter_records(root))
