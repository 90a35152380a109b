"""Video and image decoding: frame count, timestamps, RGB order, truncated and corrupt files."""

import math

import cv2
import numpy as np
import pytest

from tfaffect.data.video import VideoInfo, count_frames, frame_timestamp, iter_frames, probe_video, read_image
from fixtures import write_edit_list_mp4
from tfaffect.errors import VideoError

FPS = 25.0
NUM_FRAMES = 20
WIDTH, HEIGHT = 64, 48


def _bgr_frame(i: int) -> np.ndarray:
    """Frame 0 pure red; frame i > 0 has its first 3*i columns white, to tell frames apart."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (0, 0, 255) if i == 0 else (40, 40, 40)  # OpenCV writes BGR: (0, 0, 255) is red
    frame[:, : 3 * i] = 255
    return frame


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(NUM_FRAMES):
        writer.write(_bgr_frame(i))
    writer.release()
    return path


def test_probe(video):
    assert probe_video(video) == VideoInfo(str(video), NUM_FRAMES, FPS, WIDTH, HEIGHT)


def test_frames_indices_timestamps_and_rgb_order(video):
    frames = list(iter_frames(video))
    assert [i for i, _, _ in frames] == list(range(NUM_FRAMES))
    # MJPG in AVI: presentation time of frame i is i / fps (40 ms apart at 25 fps).
    assert [t for _, t, _ in frames] == pytest.approx([i * 0.04 for i in range(NUM_FRAMES)], abs=1e-6)
    first = frames[0][2]
    assert first.dtype == np.uint8 and first.shape == (HEIGHT, WIDTH, 3)
    red, green, blue = first[:, :, 0].mean(), first[:, :, 1].mean(), first[:, :, 2].mean()
    assert red > 240 and green < 15 and blue < 15, (red, green, blue)  # lossy JPEG: near, not exact
    # frame 5: 15 white columns, then the grey background
    assert frames[5][2][:, :14].min() > 220 and frames[5][2][:, 17:].max() < 70


def test_start_stop(video):
    frames = list(iter_frames(video, start=3, stop=6))
    assert [i for i, _, _ in frames] == [3, 4, 5]
    assert frames[0][1] == pytest.approx(0.12, abs=1e-6)
    assert frames[0][2][:, :8].min() > 220 and frames[0][2][:, 10:].max() < 70  # 9 white columns
    with pytest.raises(ValueError):
        list(iter_frames(video, start=4, stop=2))


def test_truncated_video_yields_the_frames_that_decode_with_a_warning(video, tmp_path, caplog):
    """Decoded frames are the truth: a cut file gives the frames that are there, and a warning naming it;
    whether frames are missing is for the annotations to say (test_formats_common, test_prepare)."""
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    assert probe_video(cut).num_frames == NUM_FRAMES  # the header still announces all frames
    with caplog.at_level("WARNING", logger="tfaffect.data.video"):
        seen = [index for index, _, _ in iter_frames(cut)]
    assert 0 < len(seen) < NUM_FRAMES and seen == list(range(len(seen)))
    assert f"{len(seen)} frames decode, the header announces {NUM_FRAMES}" in caplog.text and str(cut) in caplog.text
    assert count_frames(cut) == len(seen)
    assert [i for i, _, _ in iter_frames(cut, stop=len(seen))] == seen


def test_mp4_with_an_edit_list_is_read_to_its_last_presented_frame(tmp_path, caplog):
    """Issue #12: an ordinary MP4 whose edit list hides frames its header still announces (OpenCV decodes 9 of
    12) was refused as truncated. Every decoded frame comes out, with a warning, and nothing is raised."""
    path = write_edit_list_mp4(tmp_path / "trimmed.mp4", 12, 3)
    assert probe_video(path).num_frames == 12
    with caplog.at_level("WARNING", logger="tfaffect.data.video"):
        frames = list(iter_frames(path))
    assert [i for i, _, _ in frames] == list(range(9))
    assert [t for _, t, _ in frames] == pytest.approx([i / 25 for i in range(9)], abs=1e-3)
    assert "9 frames decode, the header announces 12" in caplog.text
    assert count_frames(path) == 9


def test_video_without_a_decodable_frame_is_an_error(tmp_path):
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    writer.release()  # a valid container holding no frame
    for read in (lambda: list(iter_frames(empty)), lambda: count_frames(empty)):
        with pytest.raises(VideoError, match="not a single frame") as info:
            read()
        assert info.value.path == str(empty) and info.value.frame == 0


def test_unreadable_and_missing_video(tmp_path):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(bytes(range(256)) * 8)
    for path in (junk, tmp_path / "missing.avi"):
        with pytest.raises(VideoError) as info:
            probe_video(path)
        assert info.value.path == str(path) and str(path) in str(info.value)
        with pytest.raises(VideoError):
            next(iter_frames(path))


def test_timestamp_fallback_when_container_has_none():
    assert frame_timestamp(120.0, 3, 25.0) == pytest.approx(0.12)
    assert frame_timestamp(0.0, 0, 25.0) == 0.0
    assert frame_timestamp(0.0, 5, 25.0) == pytest.approx(0.2)  # OpenCV reports 0 without timestamps
    assert math.isnan(frame_timestamp(0.0, 5, 0.0))


@pytest.fixture
def picture():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    rgb[:16, :16] = (255, 0, 0)  # one whole JPEG colour block, so chroma subsampling keeps it red
    return rgb


def test_read_png_exact_and_rgb(picture, tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(cv2.imencode(".png", picture[:, :, ::-1])[1].tobytes())
    np.testing.assert_array_equal(read_image(path), picture)


def test_read_jpeg(picture, tmp_path):
    path = tmp_path / "p.jpg"
    path.write_bytes(cv2.imencode(".jpg", picture[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes())
    image = read_image(path)
    assert image.shape == picture.shape
    assert np.abs(image[4:12, 4:12].astype(int) - (255, 0, 0)).max() < 40


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(picture, tmp_path, suffix):
    data = cv2.imencode(suffix, picture[:, :, ::-1])[1].tobytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VideoError) as info:
        read_image(path)
    # found by the end-marker check, before OpenCV (some builds decode a cut JPEG with a warning)
    assert "truncated" in str(info.value)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_corrupt_and_missing_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8" + bytes(100) + b"\xff\xd9")
    with pytest.raises(VideoError) as info:
        read_image(bad)
    assert info.value.path == str(bad)
    with pytest.raises(VideoError):
        read_image(tmp_path / "missing.png")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_empty_image_file_is_a_video_error(tmp_path, suffix):
    """Issue #12: a 0-byte JPEG/PNG made `tfaffect prepare` end in a cv2.error traceback."""
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty image file") as info:
        read_image(empty)
    assert info.value.path == str(empty)
