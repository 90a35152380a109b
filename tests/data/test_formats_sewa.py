"""SEWA importer: AVEC 2017 time-stamped ratings resampled onto frames; SEWA DB frame-aligned files."""

import numpy as np
import pytest

from fixtures import write_sewa_avec2017, write_sewa_db, write_text, write_video
from tfaffect.data.formats import get_format, sewa
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError, VideoError

nan = np.nan


@pytest.fixture
def avec(tmp_path):
    root, videos = tmp_path / "sewa", tmp_path / "videos"
    return root, videos, write_sewa_avec2017(root, videos)


def test_avec2017_nearest_timestamp_with_exact_ties(avec):
    root, videos, _ = avec
    records = list(get_format("sewa").iter_records(root, videos=videos))
    assert [(r.split, r.video_id) for r in records] == [("train", "Train_01"), ("validation", "Devel_01")]
    train, devel = records
    assert train.num_frames == 14 and train.fps == pytest.approx(20.0)
    # Ratings at 0.0 .. 0.5 s every 0.1 s, frames every 0.05 s: odd frames are exact ties (the average,
    # Kollias 2019 sec. 3.3); frames 11 and 12 are within one step of the last rating, frame 13 is not.
    np.testing.assert_allclose(train.valence, [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9, -0.95,
                                               -1.0, -1.0, -1.0, nan], rtol=1e-6)
    np.testing.assert_allclose(train.arousal, [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55,
                                               0.6, 0.6, 0.6, nan], rtol=1e-6)
    np.testing.assert_allclose(devel.valence, [1.0, 0.75, 0.5, 0.25, 0.0], atol=1e-7)
    np.testing.assert_allclose(devel.arousal, [0.0, 0.25, 0.5, 0.75, 1.0], atol=1e-7)
    assert devel.video_path.endswith("Devel_01.avi")


def test_avec2017_needs_videos_and_checks_options(avec):
    root, videos, _ = avec
    with pytest.raises(MissingResourceError, match="videos=DIR"):
        list(sewa.iter_records(root))
    with pytest.raises(MissingResourceError, match="no labels/Test_NN.csv"):
        list(sewa.iter_records(root, "test", videos=videos))
    with pytest.raises(ConfigError, match="official"):
        list(sewa.iter_records(root, videos=videos, fold=0))
    (videos / "Devel_01.avi").unlink()
    with pytest.raises(VideoError, match="no video Devel_01") as info:
        list(sewa.iter_records(root, "validation", videos=videos))
    assert info.value.path == str(root / "labels" / "Devel_01.csv")


@pytest.mark.parametrize("text, line, message", [
    ("name;time;arousal;valence\nA;0;0;0\n", 1, "header must be name;time;arousal;valence;liking"),
    ("A;0.0;0;0;0\nA;0.1;0;1.2;0\n", 2, "1.2 is not a number in \\[-1, 1\\]"),
    ("A;0.0;0;0;0\nA;0.0;0;0;0\n", 2, "not after the previous"),
    ("A;0.0;0;0;0\nB;0.1;0;0;0\n", 2, "differs"),
    ("A;0.0;0;0\n", 1, "expected 4 field"),
    ("0.0,0,0,0,0\n", 1, "expected 'name;time"),
])
def test_avec2017_bad_files(tmp_path, text, line, message):
    path = write_text(tmp_path / "Train_09.csv", text)
    with pytest.raises(AnnotationError, match=message) as info:
        sewa.read_avec2017(path)
    assert info.value.path == str(path) and info.value.line == line


def test_sewadb_records_without_and_with_videos(tmp_path):
    truth = write_sewa_db(tmp_path / "db")
    records = list(sewa.iter_records(tmp_path / "db", num_folds=2))
    assert [(r.video_id, r.split) for r in records] == [("SEW1101", "fold0"), ("SEW1102", "fold0"),
                                                        ("SEW2201", "fold1"), ("SEW2202", "fold1")]
    for record in records:
        t = truth[record.video_id]
        assert record.num_frames == t["num_frames"] and record.video_path is None
        np.testing.assert_allclose(record.valence, t["valence"], rtol=1e-6)
        np.testing.assert_allclose(record.arousal, t["arousal"], rtol=1e-6)
    for vid, t in truth.items():
        write_video(tmp_path / "videos" / f"{vid}.avi", t["num_frames"], fps=50.0)
    test = list(sewa.iter_records(tmp_path / "db", "test", videos=tmp_path / "videos", fold=0, num_folds=2))
    assert [r.video_id for r in test] == ["SEW1101", "SEW1102"]
    assert test[0].fps == pytest.approx(50.0) and test[0].video_path.endswith("SEW1101.avi")
    write_video(tmp_path / "videos" / "SEW1101.avi", 5, fps=50.0)
    with pytest.raises(AnnotationError, match="2 annotation rows but the video SEW1101.avi has 5 frames"):
        list(sewa.iter_records(tmp_path / "db", videos=tmp_path / "videos", num_folds=2))


def test_sewadb_bad_files(tmp_path):
    write_sewa_db(tmp_path)
    path = write_text(tmp_path / "SEW1102" / "valence" / "SEW1102_Valence_A_Aligned.csv",
                      "frame,valence\n0,0.1\n2,0.2\n3,0.3\n")
    with pytest.raises(AnnotationError, match="frame 2 does not follow frame 0") as info:
        list(sewa.iter_records(tmp_path, num_folds=2))
    assert info.value.path == str(path) and info.value.line == 3
    write_text(path, "0,0.1\n1,0.2\n2,0.3\n")
    with pytest.raises(AnnotationError, match="missing header"):
        list(sewa.iter_records(tmp_path, num_folds=2))
    write_text(path, "frame,valence\n0,0.1\n1,0.2\n2,0.3\n3,0.4\n")  # arousal has 3 rows
    with pytest.raises(AnnotationError, match="frames differ from the valence file"):
        list(sewa.iter_records(tmp_path, num_folds=2))
    (tmp_path / "SEW1102" / "arousal" / "SEW1102_Arousal_A_Aligned.csv").unlink()
    with pytest.raises(AnnotationError, match="no arousal file"):
        list(sewa.iter_records(tmp_path, num_folds=2))


def test_layout_detection(tmp_path):
    with pytest.raises(MissingResourceError):
        list(sewa.iter_records(tmp_path))
    with pytest.raises(ConfigError, match="layout"):
        list(sewa.iter_records(tmp_path, layout="sewa3"))
