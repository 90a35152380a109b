"""AFEW / EmotiW importer: one label per clip from the class folder."""

import pytest

from fixtures import write_afew, write_text, write_video
from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats import afew, get_format
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError, VideoError


def test_records_match_the_fixture(tmp_path):
    truth = write_afew(tmp_path)
    records = list(get_format("afew").iter_records(tmp_path))
    assert [(r.split, r.video_id) for r in records] == sorted(truth, key=lambda k: (k[0] != "train", k[1]))
    for record in records:
        name, num_frames = truth[(record.split, record.video_id)]
        assert record.expression_classes == EXPRESSIONS_7
        assert EXPRESSIONS_7[record.clip_label] == name
        assert record.num_frames == num_frames and record.fps == pytest.approx(25.0)
        assert record.valence is None and record.expression is None
    assert [r.video_id for r in afew.iter_records(tmp_path, "validation")] == ["000300", "000301"]


def test_a_labelled_test_folder_is_read_after_train_and_val(tmp_path):
    """EmotiW never released Test labels; someone holding them (or SynthAffect's AFEW layout) keeps the Test clips in
    class folders like the others: read last, and only when the folder is there (the test above has none)."""
    truth = write_afew(tmp_path)
    write_video(tmp_path / "Test" / "Fear" / "000900.avi", 3)
    write_video(tmp_path / "Test" / "Happy" / "000899.avi", 2)
    records = list(afew.iter_records(tmp_path))
    assert [(r.split, r.video_id) for r in records[:len(truth)]] == sorted(truth, key=lambda k: (k[0] != "train",
                                                                                                 k[1]))
    assert [(r.split, r.video_id, EXPRESSIONS_7[r.clip_label], r.num_frames) for r in records[len(truth):]] == [
        ("test", "000899", "Happiness", 2), ("test", "000900", "Fear", 3)]
    assert [r.video_id for r in afew.iter_records(tmp_path, "test")] == ["000899", "000900"]


def test_label_mapping_by_hand():
    assert {folder: EXPRESSIONS_7.index(name) for folder, name in afew.CLASS_FOLDERS.items()} == {
        "Neutral": 0, "Angry": 1, "Disgust": 2, "Fear": 3, "Happy": 4, "Sad": 5, "Surprise": 6}


def test_errors(tmp_path):
    with pytest.raises(MissingResourceError):
        list(afew.iter_records(tmp_path))
    with pytest.raises(ConfigError, match="split must be one of train, validation, test"):
        list(afew.iter_records(tmp_path, "holdout"))
    write_afew(tmp_path)
    with pytest.raises(MissingResourceError, match="no Test/ folder"):  # asked for: an error; else skipped
        list(afew.iter_records(tmp_path, "test"))
    write_afew(tmp_path)
    write_video(tmp_path / "Train" / "Contempt" / "000999.avi", 2)
    with pytest.raises(AnnotationError, match="unknown class folder 'Contempt'"):
        list(afew.iter_records(tmp_path, "train"))
    (tmp_path / "Train" / "Contempt" / "000999.avi").rename(tmp_path / "Train" / "Happy" / "000123.avi")
    (tmp_path / "Train" / "Contempt").rmdir()
    with pytest.raises(AnnotationError, match="also labelled"):
        list(afew.iter_records(tmp_path, "train"))
    (tmp_path / "Train" / "Happy" / "000123.avi").unlink()
    write_text(tmp_path / "Val" / "Sad" / "000300.avi", "not a video")
    with pytest.raises(VideoError) as info:
        list(afew.iter_records(tmp_path, "validation"))
    assert info.value.path == str(tmp_path / "Val" / "Sad" / "000300.avi")
