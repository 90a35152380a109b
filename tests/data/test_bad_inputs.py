"""Issue #12 on the data side: valid videos accepted (decoded frames are the truth), names from data are
identifiers (no path traversal), importer options checked, nothing accepted silently (AFEW-VA), typed errors
for empty images, and shards: a corrupt record that passes the manifest check names its shard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fixtures import write_affwild2, write_affwild2_multitask, write_afew_va, write_edit_list_mp4, write_image, write_text
from tfaffect.cli import main as cli
from tfaffect.data.faces import FaceCrop
from tfaffect.data.formats import affwild, affwild2, afew_va, get_format, sewa
from tfaffect.data.formats.base import VideoRecord
from tfaffect.data.prepare import prepare, prepare_records
from tfaffect.data.tfrecord import MANIFEST_NAME, find_bad_shard, load_manifest, naming_bad_shards, read_shard
from tfaffect.errors import AnnotationError, ConfigError, DataError, ShardError, VideoError


class StubFaces:
    """Stands in for FacePipeline: every frame's face is an 8 x 8 grey square."""

    size = 8

    def process(self, frames, landmarks68=None):
        for index, rgb in frames:
            yield FaceCrop(frame=index, image=np.full((8, 8, 3), 7 * index % 256, np.uint8), box=None, score=1.0)


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.strip() and not re.match(r"(INFO|WARNING|DEBUG) ", line)]
    assert len(lines) == 1, lines
    return lines[0]


def write_affwild_video(root: Path, video_id: str, rows: int, video_writer) -> Path:
    video = video_writer(root / "videos" / "train" / f"{video_id}.mp4")
    values = "\n".join(f"{0.01 * k:.2f}" for k in range(rows)) + "\n"
    for dim in ("valence", "arousal"):
        write_text(root / "annotations" / "train" / dim / f"{video_id}.txt", values)
    return video


# ----------------------------------------------------------------------------- 1. valid videos accepted


def test_prepare_accepts_an_mp4_whose_edit_list_hides_announced_frames(tmp_path, caplog):
    """Issue #12, item 1: OpenCV decodes 9 of the 12 frames the header announces; the annotation has the 9 rows
    that exist. Before: 'stream ended after 9 of 12 announced frames', with no way around it."""
    write_affwild_video(tmp_path / "raw", "trimmed", 9, lambda p: write_edit_list_mp4(p, 12, 3))
    records = list(get_format("affwild").iter_records(tmp_path / "raw", split="train"))
    assert [r.num_frames for r in records] == [9]
    with caplog.at_level("WARNING"):
        manifest = prepare_records(records, tmp_path / "out", dataset="affwild", size=8, faces=StubFaces(),
                                   progress=False)
    assert manifest["splits"]["train"]["frames"] == 9
    assert "9 frames decode, the header announces 12" in caplog.text
    frames = [int(ex["frame"]) for ex in read_shard(tmp_path / "out" / manifest["shards"][0]["file"])]
    assert frames == list(range(9))


def test_annotations_that_need_frames_that_do_not_exist_name_the_video_and_frame(tmp_path):
    """The header (12) agrees with the annotation (12 rows), so the importer trusts it; the frames 9..11 the
    annotation labels do not decode: a VideoError naming the video and frame 9 when prepare reaches them."""
    video = write_affwild_video(tmp_path / "raw", "trimmed", 12, lambda p: write_edit_list_mp4(p, 12, 3))
    records = list(get_format("affwild").iter_records(tmp_path / "raw", split="train"))
    with pytest.raises(VideoError, match="only 9 frames decode, but the annotations have 12") as info:
        prepare_records(records, tmp_path / "out", dataset="affwild", size=8, faces=StubFaces(), progress=False)
    assert info.value.path == str(video) and info.value.frame == 9
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()
    # with decode=True the importer already says so, naming the annotation too
    with pytest.raises(VideoError, match="only 9 of the 12 frames its header announces decode") as info:
        list(get_format("affwild").iter_records(tmp_path / "raw", split="train", decode=True))
    assert info.value.path == str(video) and info.value.frame == 9 and "valence" in str(info.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_prepare_reports_an_empty_image_file(tmp_path, capsys, suffix):
    """Issue #12: a 0-byte JPEG/PNG ended `tfaffect prepare` in a cv2.error traceback."""
    write_affwild2(tmp_path / "raw")
    images = sorted((tmp_path / "raw" / "cropped_aligned").rglob("*.jpg"))
    empty = images[0].with_suffix(suffix) if suffix == ".png" else images[0]
    if suffix == ".png":  # Aff-Wild2 crops are JPEGs; an AFEW-VA frame is a PNG
        write_afew_va(tmp_path / "afew_va")
        empty = sorted((tmp_path / "afew_va").rglob("*.png"))[0]
        root, dataset = tmp_path / "afew_va", "afew_va"
    else:
        root, dataset = tmp_path / "raw", "affwild2"
    empty.write_bytes(b"")
    assert cli(["prepare", "--dataset", dataset, "--root", str(root), "--out", str(tmp_path / "out"),
                "--size", "8"]) == 1
    line = error_line(capsys)
    assert line.startswith("tfaffect prepare: error: ") and str(empty) in line and "empty image file" in line


# ----------------------------------------------------------------------------- 2. no path traversal


def test_multitask_video_names_are_identifiers_not_paths(tmp_path):
    """Issue #12, item 2: an MTL list naming ../../../../outside/pwned made prepare read outside --root."""
    root = tmp_path / "root"
    relative, _ = write_affwild2_multitask(root)
    outside = tmp_path / "outside" / "pwned"
    write_image(outside / "00001.jpg", 1)
    mtl = root / relative
    lines = mtl.read_text().splitlines()
    lines.insert(3, "../../outside/pwned/00001.jpg,0.1,0.1,1," + ",".join(["0"] * 12))
    mtl.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnnotationError, match="not a plain name") as info:
        list(affwild2.iter_records(root, "train", multitask={"train": relative}))
    assert info.value.path == str(mtl) and info.value.line == 4


@pytest.mark.parametrize("name", ["..", "/etc/passwd", "a/b", "C:evil", "x\x00"])
def test_video_records_refuse_path_like_ids(name):
    with pytest.raises(DataError, match="is not a name"):
        VideoRecord(video_id=name, split="train", num_frames=1, video_path="/data/v.mp4")


def test_importers_refuse_file_names_that_make_path_ids(tmp_path):
    """A per-task annotation file named '...txt' has the stem '..': its images would be cropped_aligned/.."""
    root = tmp_path / "root"
    write_affwild2(root)
    weird = next((root / "annotations" / "VA_Set").rglob("*.txt")).with_name("...txt")
    write_text(weird, "valence,arousal\n0.1,0.2\n")
    with pytest.raises(AnnotationError, match="not a plain name") as info:
        list(affwild2.iter_records(root))
    assert info.value.path == str(weird)


def test_shard_reader_refuses_path_like_video_ids(tmp_path):
    """Names read back from shards are identifiers too: a crafted shard naming ../../x is refused by the reader
    and a crafted manifest by load_manifest, so no output file can be built from such a name."""
    import tensorflow as tf

    from tfaffect.data.tfrecord import encode_frame

    record = VideoRecord(video_id="v1", split="train", num_frames=1, video_path="v1.mp4")
    example = tf.train.Example.FromString(encode_frame(record, 0, b""))
    example.features.feature["video_id"].bytes_list.value[0] = b"../../outside/pwned"
    with tf.io.TFRecordWriter(str(tmp_path / "train-00000-of-00001.tfrecord")) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(ShardError, match="video_id is not a name") as info:
        list(read_shard(tmp_path / "train-00000-of-00001.tfrecord"))
    assert info.value.path == str(tmp_path / "train-00000-of-00001.tfrecord")


def prepared(tmp_path) -> Path:
    write_affwild2(tmp_path / "raw")
    prepare("affwild2", tmp_path / "raw", tmp_path / "data", size=8, progress=False)
    return tmp_path / "data"


@pytest.mark.parametrize("edit, field", [
    (lambda m: m["shards"][0]["videos"][0].__setitem__(0, "../../outside/pwned"), "shards[0].videos[0]"),
    (lambda m: m["shards"][0].__setitem__("file", "../elsewhere.tfrecord"), "shards[0].file"),
    (lambda m: m["shards"][0].__setitem__("frames", "many"), "shards[0].frames"),
    (lambda m: m.__setitem__("image_size", 0), "image_size"),
    (lambda m: m["splits"].clear(), "shards[0].split"),
    (lambda m: m.__setitem__("shards", {}), "shards"),
])
def test_load_manifest_refuses_damaged_or_crafted_manifests(tmp_path, edit, field):
    data = prepared(tmp_path)
    manifest = json.loads((data / MANIFEST_NAME).read_text())
    edit(manifest)
    (data / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ShardError) as info:
        load_manifest(data)
    assert info.value.path == str(data / MANIFEST_NAME) and field in str(info.value)


def test_a_corrupt_record_that_passes_the_manifest_check_names_its_shard(tmp_path):
    """Issue #12: a record corrupted after preparation, with the manifest updated so that the manifest check
    passes, surfaced as a raw DataLossError from tf.data without the shard name."""
    import hashlib

    import tensorflow as tf

    from tfaffect.data.pipeline import make_dataset

    data = prepared(tmp_path)
    manifest = json.loads((data / MANIFEST_NAME).read_text())
    entry = next(s for s in manifest["shards"] if s["split"] == "validation")
    shard = data / entry["file"]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside a record: its CRC no longer matches
    shard.write_bytes(bytes(raw))
    entry["sha256"] = hashlib.sha256(raw).hexdigest()
    (data / MANIFEST_NAME).write_text(json.dumps(manifest))
    batches = make_dataset(data, "validation", batch_size=4, training=False, image_size=8)
    with pytest.raises(tf.errors.DataLossError):  # what tf.data says: no file name
        list(batches.as_numpy_iterator())
    with pytest.raises(ShardError) as info:
        with naming_bad_shards(data, "validation"):
            list(batches.as_numpy_iterator())
    assert info.value.path == str(shard) and "corrupt record" in str(info.value)
    with pytest.raises(ShardError):
        find_bad_shard(data, "validation")
    find_bad_shard(data, "train")  # the other split reads


# ----------------------------------------------------------------------------- 3. importer options


def test_unknown_importer_option_is_a_config_error_listing_the_options(tmp_path, capsys):
    """Issue #12: an unknown --importer-option ended in a TypeError traceback."""
    write_affwild2(tmp_path / "raw")
    assert cli(["prepare", "--dataset", "affwild2", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "o"),
                "--importer-option", "fold=2"]) == 2
    line = error_line(capsys)
    assert "--importer-option fold" in line and "tasks, multitask" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("module, options, match", [
    (affwild, {"decode": "yes"}, "decode must be true or false"),
    (affwild, {"validation_ids": 5}, "validation_ids must be a list of names"),
    (affwild2, {"tasks": 5}, "tasks must be a list of names"),
    (affwild2, {"multitask": "mtl.txt"}, "multitask must map split names"),
    (affwild2, {"multitask": {"train": 3}}, "must be a path"),
    (sewa, {"videos": 123}, "videos must be a path"),
    (afew_va, {"subjects": ["a"]}, "subjects must be a path"),
    (afew_va, {"fold": "1", "num_folds": 5}, "fold must be an integer"),
    (afew_va, {"fold": 0, "num_folds": True}, "num_folds must be an integer"),
])
def test_importer_options_of_the_wrong_type_are_config_errors(tmp_path, module, options, match):
    write_affwild2(tmp_path)
    write_afew_va(tmp_path)
    with pytest.raises(ConfigError, match=match):
        list(module.iter_records(tmp_path, **options))


# ----------------------------------------------------------------------------- 4. no silent acceptance


def test_afew_va_clip_without_any_png_is_an_error(tmp_path):
    """Issue #12, item 4: a clip whose PNGs were all missing prepared with exit 0 and no warning."""
    write_afew_va(tmp_path)
    clip = tmp_path / "02" / "004"
    for png in clip.glob("*.png"):
        png.unlink()
    with pytest.raises(VideoError, match="no frame image") as info:
        list(afew_va.iter_records(tmp_path))
    assert info.value.path == str(clip / "004.json") and "remove its folder" in str(info.value)


def test_afew_va_frames_without_png_or_annotation_are_kept_with_a_warning(tmp_path, caplog):
    """Issue #12, item 4: JSON frames beyond the PNGs (36 imageless frames) were accepted without a word."""
    write_afew_va(tmp_path)
    json_file = tmp_path / "02" / "003" / "003.json"
    doc = json.loads(json_file.read_text())
    for frame in range(2, 38):
        doc["frames"][f"{frame:05d}"] = {"valence": 1, "arousal": -1, "landmarks": None}
    json_file.write_text(json.dumps(doc))
    write_image(tmp_path / "02" / "004" / "00005.png", 5)  # an image without annotation
    with caplog.at_level("WARNING"):
        records = {r.video_id: r for r in afew_va.iter_records(tmp_path)}
    assert records["003"].num_frames == 38 and records["003"].has_image.sum() == 2
    assert f"{json_file}: 36 annotated frame(s) have no PNG (first: frame 2)" in caplog.text
    assert "1 frame image(s) have no annotation (first: 00005.png)" in caplog.text
    assert records["004"].num_frames == 6 and np.isnan(records["004"].valence[2:]).all()


def test_subject_map_config_error_names_its_file(tmp_path):
    """Issue #12, item 4: a subject map without an entry for a clip gave a ConfigError without the file."""
    write_afew_va(tmp_path / "raw")
    subjects = write_text(tmp_path / "subjects.csv", "clip,subject\n001,a\n002,a\n003,b\n004,c\n005,d\n")
    with pytest.raises(ConfigError) as info:
        list(afew_va.iter_records(tmp_path / "raw", subjects=subjects))
    assert str(subjects) in str(info.value) and "'006'" in str(info.value)
    write_text(subjects, "clip,subject\n001,a\n002,a\n003,a\n004,a\n005,a\n006,a\n")
    with pytest.raises(ConfigError) as info:
        list(afew_va.iter_records(tmp_path / "raw", subjects=subjects))
    assert str(subjects) in str(info.value) and "5 folds from 1 subjects" in str(info.value)
