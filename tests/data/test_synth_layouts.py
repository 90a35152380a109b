"""SynthAffect written in the AFEW-VA, RECOLA, AFEW and SEWA DB layouts and read back by the real importers.

Ground truth comes from the SynthAffect folder itself (its Aff-Wild2 annotation and landmark files and
JPEGs, read by the affwild2 importer); the layouts are read by the afew_va, recola, afew and sewa importers.
"""

import collections
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tfaffect.data.formats import get_format
from tfaffect.data.synth import generate
from tfaffect.data.synth_layouts import (MAP_FILE, NOTE_FILE, SUBJECTS_FILE, NoDetector, cut, ensure_layout,
                                         layout_path, majority_expression, read_layout_map, with_known_landmarks,
                                         write_layout)
from tfaffect.data.video import iter_frames, read_image
from tfaffect.errors import ConfigError


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """4 train + 2 validation SynthAffect videos of 30 frames (6 identities), and their records."""
    root = generate(tmp_path_factory.mktemp("cache") / "synth", num_train_videos=4, num_val_videos=2,
                    frames_per_video=30, size=48, workers=1, progress=False)
    records = {r.video_id: r for r in get_format("affwild2").iter_records(root, tasks=("VA", "EXPR"))}
    return root, records


def test_cut_gives_nearly_equal_consecutive_pieces():
    assert cut(10, 4) == [(0, 4), (4, 7), (7, 10)]
    assert cut(8, 4) == [(0, 4), (4, 8)]
    assert cut(3, 60) == [(0, 3)]


def test_majority_expression_skips_invalid_frames_and_breaks_ties_to_the_lower_class():
    assert majority_expression(np.array([2, 2, 1, -1, 1, 1])) == 1
    assert majority_expression(np.array([3, 1, -1, -1, -1, 1, 3])) == 1
    assert majority_expression(np.array([-1, -1])) is None


def test_afew_va_round_trip(synth):
    root, source = synth
    layout = ensure_layout(root, "afew_va")
    assert layout == layout_path(root, "afew_va") and layout.parent.parent == root.parent
    assert "SYNTHETIC" in (layout / NOTE_FILE).read_text()
    mapping = read_layout_map(layout)
    records = {r.video_id: r for r in get_format("afew_va").iter_records(layout, subjects=layout / SUBJECTS_FILE)}
    assert set(records) == {c["id"] for c in mapping["clips"]}
    covered = collections.defaultdict(int)
    for clip in mapping["clips"]:
        record, truth = records[clip["id"]], source[clip["source"]]
        frames = range(clip["start"], clip["stop"])
        covered[clip["source"]] += len(frames)
        assert record.subject == clip["source"]
        face = np.array([truth.frame_paths[i] is not None for i in frames])
        # AFEW-VA's integers in [-10, 10], divided by 10 by the importer
        expected_v = np.where(face, np.round(10 * truth.valence[list(frames)]) / 10, np.nan)
        np.testing.assert_allclose(record.valence, expected_v, atol=1e-6)
        np.testing.assert_allclose(record.arousal, np.where(face, np.round(10 * truth.arousal[list(frames)]) / 10,
                                                            np.nan), atol=1e-6)
        np.testing.assert_allclose(record.landmarks[face], truth.landmarks[list(frames)][face], atol=1e-4)
        assert [p is not None for p in record.frame_paths] == face.tolist()
        j = int(np.argmax(face))  # PNG = the decoded SynthAffect JPEG, pixel for pixel
        np.testing.assert_array_equal(read_image(record.frame_paths[j]),
                                      read_image(truth.frame_paths[clip["start"] + j]))
    assert covered == {video: 30 for video in source}  # every SynthAffect frame is in exactly one clip


def test_afew_va_folds_are_disjoint_by_identity(synth):
    root, source = synth
    layout = ensure_layout(root, "afew_va")
    records = list(get_format("afew_va").iter_records(layout, subjects=layout / SUBJECTS_FILE))
    identities = collections.defaultdict(set)
    for record in records:
        identities[record.split].add(record.subject)
    assert sorted(identities) == [f"fold{k}" for k in range(5)]
    seen = [s for subjects in identities.values() for s in subjects]
    assert sorted(seen) == sorted(set(seen)) == sorted(source)


def test_recola_round_trip(synth):
    root, source = synth
    layout = ensure_layout(root, "recola")
    records = list(get_format("recola").iter_records(layout))
    assert [r.video_id for r in records] == ["train_1", "train_2", "train_3", "train_4", "dev_1", "dev_2"]
    train = [v for v in source if v.startswith("synth_train")]
    val = [v for v in source if v.startswith("synth_val")]
    for record, video in zip(records, train + val):
        truth = source[video]
        assert record.split == truth.split and record.num_frames == 30 and record.fps == pytest.approx(25.0)
        face = np.array([p is not None for p in truth.frame_paths])
        # ratings at the frame times: nearest-timestamp resampling gives every frame its own value back
        np.testing.assert_allclose(record.valence, np.where(face, truth.valence, np.nan), atol=1e-6)
        np.testing.assert_allclose(record.arousal, np.where(face, truth.arousal, np.nan), atol=1e-6)
        frames = [rgb for _, _, rgb in iter_frames(record.video_path)]
        assert len(frames) == 30
        assert all(frames[i].max() == 0 for i in np.flatnonzero(~face))  # no face: black frame
        i = int(np.argmax(face))  # MJPG is lossy: close to the SynthAffect image
        assert np.abs(frames[i].astype(int) - read_image(truth.frame_paths[i]).astype(int)).mean() < 8


def test_afew_round_trip_with_majority_clip_labels(synth):
    root, source = synth
    layout = ensure_layout(root, "afew")
    mapping = read_layout_map(layout)
    records = {r.video_id: r for r in get_format("afew").iter_records(layout)}
    assert set(records) == {c["id"] for c in mapping["clips"]}
    assert len(mapping["clips"]) + len(mapping["skipped"]) == 6  # 30 frames: one clip per video
    for clip in mapping["clips"]:
        truth = source[clip["source"]]
        counts = collections.Counter(int(e) for e in truth.expression[clip["start"]:clip["stop"]] if e >= 0)
        top = max(counts.values())
        assert records[clip["id"]].clip_label == min(k for k, n in counts.items() if n == top)
        assert records[clip["id"]].split == truth.split
        assert records[clip["id"]].num_frames == clip["stop"] - clip["start"]


def test_afew_clips_carry_their_labels_synthetic_voice_beside_them(synth):
    """The WAV beside each clip, decoded here with the standard library, is synth_voice of the clip label at the
    person's pitch shift with the clip's own variation (16-bit quantisation: within half a step, 0.5 / 32767, plus float32 rounding)."""
    import wave

    from tfaffect.data.synth_audio import CLIP_VARIATION, SAMPLE_RATE, synth_voice
    from tfaffect.data.synth_layouts import SPEAKER_PITCH_RANGE

    root, _ = synth
    layout = ensure_layout(root, "afew")
    clips = read_layout_map(layout)["clips"]
    records = {r.video_id: r for r in get_format("afew").iter_records(layout)}
    shifts = {}
    for clip in clips:
        wav = layout / clip["audio"]["file"]
        assert wav == Path(records[clip["id"]].video_path).with_suffix(".wav")  # beside the clip the importer reads
        with wave.open(str(wav), "rb") as source:
            assert (source.getnchannels(), source.getsampwidth(), source.getframerate()) == (1, 2, SAMPLE_RATE)
            written = np.frombuffer(source.readframes(source.getnframes()), "<i2") / 32767.0
        frames = clip["stop"] - clip["start"]
        assert len(written) == frames * SAMPLE_RATE // 30  # as long as the clip at 30 fps
        expected = synth_voice(clip["label"], frames / 30, pitch_shift=clip["audio"]["pitch_shift"],
                               seed=clip["audio"]["seed"], variation=CLIP_VARIATION)
        np.testing.assert_allclose(written, expected, rtol=0, atol=0.5 / 32767 + 1e-7)
        assert abs(clip["audio"]["pitch_shift"]) <= SPEAKER_PITCH_RANGE
        shifts.setdefault(clip["source"], set()).add(clip["audio"]["pitch_shift"])
    assert all(len(s) == 1 for s in shifts.values())  # one voice per person
    assert len({s.pop() for s in shifts.values()}) == len(shifts)  # people differ
    assert "SYNTHETIC voice" in (layout / NOTE_FILE).read_text()


def test_known_landmarks_are_put_on_the_video_records(synth):
    root, source = synth
    layout = ensure_layout(root, "recola")
    records = with_known_landmarks(list(get_format("recola").iter_records(layout)), layout, root)
    mapping = {c["id"]: c for c in read_layout_map(layout)["clips"]}
    for record in records:
        np.testing.assert_array_equal(record.landmarks, source[mapping[record.video_id]["source"]].landmarks)
    assert NoDetector().detect_faces([np.zeros((8, 8, 3), np.uint8)]).shape == (0, 16)


def test_layouts_are_deterministic_and_never_overwrite_foreign_folders(synth, tmp_path):
    root, _ = synth
    first = ensure_layout(root, "afew_va")
    again = write_layout(root, "afew_va", tmp_path / "again")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert not list(tmp_path.glob("*.tmp-*"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a synthetic layout"):
        write_layout(root, "recola", foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="unknown synthetic layout"):
        ensure_layout(root, "no_such_layout")
    assert json.loads((first / MAP_FILE).read_text())["synthetic"] is True
    assert cv2.imread(str(next(first.rglob("*.png")))) is not None


def test_afew_test_clips_follow_and_leave_train_and_val_unchanged(synth, tmp_path):
    """SynthAffect with a test person in the AFEW layout: its clips land in ``Test/<Emotion>/`` (labelled by the
    majority expression like the others, with a voice), numbered after Train and Val, whose files (videos, voices)
    stay byte-identical to the layout without a test split: the Kahou recipes' Train/Val clips do not change."""
    root, _ = synth
    with_test = generate(tmp_path / "synth", num_train_videos=4, num_val_videos=2, num_test_videos=1,
                         frames_per_video=30, size=48, workers=1, progress=False)
    plain, extended = ensure_layout(root, "afew"), ensure_layout(with_test, "afew")
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.suffix in (".avi", ".wav"))
    assert files and all(name.parts[0] in ("Train", "Val") for name in files)
    for name in files:
        assert (plain / name).read_bytes() == (extended / name).read_bytes(), name
    test = [p.relative_to(extended) for p in extended.rglob("*") if p.suffix in (".avi", ".wav")
            and p.relative_to(extended).parts[0] == "Test"]
    clips = [c for c in read_layout_map(extended)["clips"] if c["split"] == "test"]
    assert [c["source"] for c in clips] == ["synth_test_001"]  # 30 frames: one clip
    before = read_layout_map(plain)
    assert clips[0]["id"] == f"{len(before['clips']) + len(before['skipped']) + 1:06d}"
    truth = next(get_format("affwild2").iter_records(with_test, split="test", tasks=("VA", "EXPR")))
    (record,) = get_format("afew").iter_records(extended, "test")
    assert record.clip_label == majority_expression(truth.expression) and record.video_id == clips[0]["id"]
    clip = Path(record.video_path).relative_to(extended)
    assert sorted(test) == [clip, clip.with_suffix(".wav")]


def test_sewa_round_trip_and_subject_independent_folds(synth):
    root, source = synth
    layout = ensure_layout(root, "sewa")
    records = list(get_format("sewa").iter_records(layout, videos=layout / "videos"))
    assert [r.video_id for r in records] == [f"{n:03d}" for n in range(1, 7)]
    for record, video in zip(records, sorted(source, key=lambda v: (not v.startswith("synth_train"), v))):
        truth = source[video]
        face = np.array([p is not None for p in truth.frame_paths])
        assert record.num_frames == 30 and face.any() and record.video_path.endswith(f"{record.video_id}.avi")
        np.testing.assert_allclose(record.valence[face], truth.valence[face], atol=1e-6)
        np.testing.assert_allclose(record.arousal[face], truth.arousal[face], atol=1e-6)
        assert np.isfinite(record.valence).all() and np.isfinite(record.arousal).all()  # no gaps (no-face rule)
    folds = collections.defaultdict(set)
    for k in range(5):
        for record in get_format("sewa").iter_records(layout, "validation", fold=k, subjects=layout / SUBJECTS_FILE):
            folds[k].add(record.subject)
    seen = [s for subjects in folds.values() for s in subjects]
    assert sorted(seen) == sorted(set(seen)) == sorted(source)
