"""RECOLA importer: AVEC 2016 gold-standard ARFF files placed on the video frames."""

import numpy as np
import pytest

from fixtures import arff_text, write_recola, write_text
from tfaffect.data.formats import get_format, recola
from tfaffect.errors import AnnotationError, MissingResourceError, VideoError

nan = np.nan


def test_records_match_the_fixture(tmp_path):
    write_recola(tmp_path)
    records = list(get_format("recola").iter_records(tmp_path))
    assert [(r.split, r.video_id) for r in records] == [("train", "train_1"), ("validation", "dev_1")]
    train, dev = records
    assert train.num_frames == 6 and train.fps == pytest.approx(25.0)
    # frame i at exactly rating i's time (40 ms steps at 25 fps); '?' stays missing
    np.testing.assert_allclose(train.valence, [0.1, 0.2, nan, 0.4, 0.5, 0.6], rtol=1e-6)
    np.testing.assert_allclose(train.arousal, [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6], rtol=1e-6)
    # ratings end at 0.12 s: frame 4 (0.16 s) is one step away and takes the last rating; 0.20 and
    # 0.24 s are farther and stay unlabelled
    np.testing.assert_allclose(dev.valence, [0.0, 0.25, 0.5, 0.75, 0.75, nan, nan], atol=1e-7)
    np.testing.assert_allclose(dev.arousal, [1.0, 0.5, 0.0, -0.5, -0.5, nan, nan], atol=1e-7)


def test_split_filter_natural_order_and_videos_option(tmp_path):
    write_recola(tmp_path)
    for name in ("train_10", "train_2"):
        for dim in ("valence", "arousal"):
            write_text(tmp_path / "ratings_gold_standard" / dim / f"{name}.arff", arff_text(name, [0.0], [0.0]))
        (tmp_path / "elsewhere").mkdir(exist_ok=True)
    with pytest.raises(VideoError, match="no video train_2"):  # train_2 sorts before train_10
        list(recola.iter_records(tmp_path, "train"))
    (tmp_path / "recordings_video" / "train_1.avi").rename(tmp_path / "elsewhere" / "train_1.avi")
    with pytest.raises(MissingResourceError, match="videos=DIR"):
        list(recola.iter_records(tmp_path, "train", videos=tmp_path / "nowhere"))
    from fixtures import write_video
    for name in ("train_10", "train_2"):
        write_video(tmp_path / "elsewhere" / f"{name}.avi", 3)
    records = list(recola.iter_records(tmp_path, "train", videos=tmp_path / "elsewhere"))
    assert [r.video_id for r in records] == ["train_1", "train_2", "train_10"]


@pytest.mark.parametrize("text, line, message", [
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n", None, "missing @data"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n0.0,0.1\n", 4,
     "unexpected line in the ARFF header"),
    ("@relation x\n@attribute frameTime numeric\n@data\n0.0\n", None, "exactly one attribute 'goldstandard'"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n0.0,0.1\n0.04,1.5\n",
     6, "1.5 is not a number in \\[-1, 1\\]"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n0.0,0.1\n\n0.0,0.1\n",
     7, "not after the previous"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n0.0,0.1,3\n", 5,
     "expected 2 comma-separated"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n?,0.1\n", 5,
     "frameTime is not a number"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n{0 1}\n", 5, "sparse"),
    ("@relation x\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n@data\n", 4, "no data rows"),
    ("hello\n", 1, "unexpected line"),
    ("@relation x\n@attribute frameTime\n", 2, "malformed @attribute"),
])
def test_bad_arff(tmp_path, text, line, message):
    path = write_text(tmp_path / "train_1.arff", text)
    with pytest.raises(AnnotationError, match=message) as info:
        recola.read_arff(path)
    assert info.value.path == str(path) and info.value.line == line


def test_missing_dimension_and_split(tmp_path):
    write_recola(tmp_path)
    with pytest.raises(MissingResourceError, match="no ratings_gold_standard/arousal\\|valence/test_N.arff"):
        list(recola.iter_records(tmp_path, "test"))
    (tmp_path / "ratings_gold_standard" / "valence" / "dev_1.arff").unlink()
    with pytest.raises(AnnotationError, match="no valence ratings") as info:
        list(recola.iter_records(tmp_path, "validation"))
    assert info.value.path == str(tmp_path / "ratings_gold_standard" / "arousal" / "dev_1.arff")
