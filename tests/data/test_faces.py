"""Face detection, main-face choice, tracking, 5-point alignment and landmark transforms.

The real-face tests use ``skimage.data.astronaut()``, a photo bundled in the scikit-image wheel
(read from the package directory; nothing is downloaded). Hand-labelled points in that 512x512
image, read off a 6x zoom: eye centres (204, 101) and (245, 103), mouth corners (204, 141) and
(245, 142).
"""

import cv2
import mtcnn
import numpy as np
import pytest
from skimage import data as skimage_data
from skimage.transform import SimilarityTransform

from tfaffect.data.faces import (ARCFACE_TEMPLATE_112, FacePipeline, _mtcnn_rows, alignment_template, box_iou,
                                 compile_detector, points5_from_68, transform_points, umeyama)

HAND_EYES = np.array([[204.0, 101.0], [245.0, 103.0]])
HAND_MOUTH = np.array([[204.0, 141.0], [245.0, 142.0]])


@pytest.fixture(scope="module")
def detector():
    return mtcnn.MTCNN()  # a few seconds: built once for the module


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def _head(astronaut, scale):
    """The astronaut's head and hair (rows 30-230, columns 140-310), resized by ``scale``."""
    return cv2.resize(astronaut[30:230, 140:310], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _canvas(*pastes, shape=(360, 640)):
    """A grey 640x360 frame with each ``(image, x, y)`` pasted at its top-left corner ``(x, y)``."""
    frame = np.full(shape + (3,), 90, np.uint8)
    for image, x, y in pastes:
        frame[y:y + image.shape[0], x:x + image.shape[1]] = image
    return frame


def _centre(box):
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


# ---- geometry, by hand ---------------------------------------------------------------------

def test_points5_from_68_by_hand():
    lm = np.full((68, 2), 500.0)
    lm[36:42] = [(10, 20), (12, 18), (14, 18), (16, 20), (14, 22), (12, 22)]  # mean (13, 20)
    lm[42:48] = [(30, 20), (32, 18), (34, 18), (36, 20), (34, 22), (32, 22)]  # mean (33, 20)
    lm[30], lm[48], lm[54] = (23, 30), (15, 40), (31, 40)
    np.testing.assert_allclose(points5_from_68(lm), [[13, 20], [33, 20], [23, 30], [15, 40], [31, 40]])
    with pytest.raises(ValueError):
        points5_from_68(lm[:60])


def test_alignment_template_by_hand():
    np.testing.assert_allclose(alignment_template(112, 0.0), ARCFACE_TEMPLATE_112)
    # 224 crop: pixel centre p of the 112 grid -> (p + 0.5) * 2 - 0.5
    np.testing.assert_allclose(alignment_template(224, 0.0)[0], [77.0892, 103.8926])
    # margin 0.25 of 112: template in the central 56 pixels -> (p + 0.5) * 0.5 + 28 - 0.5
    np.testing.assert_allclose(alignment_template(112, 0.25)[0], [46.8973, 53.59815])
    with pytest.raises(ValueError):
        alignment_template(96, 0.5)


def test_umeyama_recovers_a_known_similarity():
    src = ARCFACE_TEMPLATE_112
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    expected = np.array([[2 * c, -2 * s, 5.0], [2 * s, 2 * c, -3.0]])  # scale 2, 30 degrees, shift (5, -3)
    dst = src @ expected[:, :2].T + expected[:, 2]
    np.testing.assert_allclose(umeyama(src, dst), expected, atol=1e-9)
    np.testing.assert_allclose(transform_points(src, umeyama(src, dst)), dst, atol=1e-9)


def test_umeyama_matches_skimage_on_noisy_points():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    dst = src @ np.array([[0.7, -0.4], [0.4, 0.7]]).T + [30, 8] + rng.normal(0, 2, (5, 2))
    reference = SimilarityTransform.from_estimate(src, dst).params[:2]
    np.testing.assert_allclose(umeyama(src, dst), reference, atol=1e-8)


def test_umeyama_never_reflects():
    src = ARCFACE_TEMPLATE_112
    mirrored = src * [-1, 1]
    assert np.linalg.det(umeyama(src, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError):
        umeyama(np.ones((5, 2)), src)


def test_box_iou_by_hand():
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


# ---- dataset landmarks: crop coordinates by hand --------------------------------------------

def _landmarks_for(points5, extra):
    """68 points whose derived 5 points are ``points5`` (each eye's six points on its centre)."""
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48] = points5[0], points5[1]
    lm[30], lm[48], lm[54] = points5[2], points5[3], points5[4]
    for index, xy in extra.items():
        lm[index] = xy
    return lm


@pytest.mark.parametrize("crop_to_frame, extra, expected", [
    # frame = 2 * crop + (20, 10)  =>  crop = (frame - (20, 10)) / 2
    ([[2, 0, 20], [0, 2, 10]], {0: (20, 10), 8: (132, 174)}, {0: (0, 0), 8: (56, 82)}),
    # frame = R90 crop + (150, 10), (cx, cy) -> (150 - cy, 10 + cx)  =>  crop = (fy - 10, 150 - fx)
    ([[0, -1, 150], [1, 0, 10]], {0: (100, 60), 8: (90, 40)}, {0: (50, 50), 8: (30, 60)}),
], ids=["scaled", "rotated"])
def test_landmarks_and_pixels_land_where_hand_computed(detector, crop_to_frame, extra, expected):
    crop_to_frame = np.array(crop_to_frame, np.float64)
    template = ARCFACE_TEMPLATE_112  # the crop's five points at size 112, margin 0
    frame_points = template @ crop_to_frame[:, :2].T + crop_to_frame[:, 2]
    lm = _landmarks_for(frame_points, extra)
    frame = np.zeros((260, 260, 3), np.uint8)
    x, y = extra[8]
    frame[y - 1:y + 2, x - 1:x + 2] = 255  # a white dot under landmark 8
    pipeline = FacePipeline(size=112, margin=0.0, detector=detector)
    (crop,) = pipeline.process([(7, frame)], landmarks68={7: lm})
    assert crop.frame == 7 and crop.score == 1.0 and not crop.tracked
    assert crop.box == pytest.approx((*lm.min(0), *lm.max(0)))
    for index, xy in expected.items():
        np.testing.assert_allclose(crop.landmarks[index], xy, atol=1e-4)
    brightest = np.unravel_index(np.argmax(crop.image[..., 0]), crop.image.shape[:2])[::-1]
    np.testing.assert_allclose(brightest, expected[8], atol=1)


def test_landmark_entries_nan_and_malformed(detector, astronaut):
    pipeline = FacePipeline(size=64, detector=detector)
    nan = np.full((68, 2), np.nan)
    (crop,) = pipeline.process([(0, astronaut)], landmarks68={0: nan})
    assert crop.image is not None and crop.landmarks is None and crop.score < 1.0  # detector ran
    partly = np.zeros((68, 2))
    partly[3] = np.nan
    with pytest.raises(ValueError, match="frame 0"):
        list(pipeline.process([(0, astronaut)], landmarks68={0: partly}))
    with pytest.raises(ValueError, match="frame 5"):
        list(pipeline.process([(5, astronaut.astype(np.float32))]))


# ---- MTCNN on a real photo ------------------------------------------------------------------

def test_detects_the_astronaut_and_aligns_eyes_onto_the_template(detector, astronaut):
    size = 160
    pipeline = FacePipeline(size=size, margin=0.0, detect_max_side=None, detector=detector)
    (crop,) = pipeline.process([(0, astronaut)])
    assert crop.image.shape == (size, size, 3) and crop.image.dtype == np.uint8
    assert crop.score > 0.95 and crop.landmarks is None
    x0, y0, x1, y1 = crop.box
    for x, y in np.concatenate([HAND_EYES, HAND_MOUTH]):
        assert x0 < x < x1 and y0 < y < y1
    # The detector's own points on the frame (a direct MTCNN call): eyes and mouth in template
    # order (image-left first), on the hand-labelled points.
    rows = detector.detect_faces(astronaut, output_type="numpy", box_format="xyxy")
    points = np.stack([rows[0, 6:11], rows[0, 11:16]], axis=1)
    np.testing.assert_allclose(points[[0, 1]], HAND_EYES, atol=4)
    np.testing.assert_allclose(points[[3, 4]], HAND_MOUTH, atol=4)
    # Where the least-squares similarity onto the template sends them (5 points cannot all sit
    # exactly on the template: the residual is this face's shape) ...
    expected = transform_points(points, umeyama(points, alignment_template(size, 0.0)))
    # ... is where MTCNN finds them again in the aligned crop.
    rows = detector.detect_faces(crop.image, output_type="numpy", box_format="xyxy")
    assert len(rows) == 1
    found = np.stack([rows[0, 6:11], rows[0, 11:16]], axis=1)
    np.testing.assert_allclose(found, expected, atol=3)
    # and the eyes are level and within the fit's residual of the template's eyes
    assert abs(found[0, 1] - found[1, 1]) < 2
    np.testing.assert_allclose(found[:2], alignment_template(size, 0.0)[:2], atol=6)


def test_reduced_detection_resolution_finds_the_same_face(detector, astronaut):
    full = next(FacePipeline(size=64, detect_max_side=None, detector=detector).process([(0, astronaut)]))
    reduced = next(FacePipeline(size=64, detect_max_side=256, detector=detector).process([(0, astronaut)]))
    assert box_iou(np.array(full.box), np.array(reduced.box)) > 0.85
    # boxes are reported in the full-resolution frame
    for x, y in HAND_EYES:
        assert reduced.box[0] < x < reduced.box[2] and reduced.box[1] < y < reduced.box[3]


def test_frame_without_face_is_kept_and_flagged(detector, astronaut):
    grey = np.full((240, 320, 3), 128, np.uint8)
    frames = [(0, grey), (1, cv2.resize(astronaut, (320, 320))), (2, grey)]
    crops = list(FacePipeline(size=64, detector=detector).process(frames))
    assert [c.frame for c in crops] == [0, 1, 2]
    for c in (crops[0], crops[2]):
        assert c.image is None and c.box is None and c.score == 0.0 and c.landmarks is None
    assert crops[1].image is not None and crops[1].score > 0.9


def test_main_face_stays_when_other_faces_appear(detector, astronaut):
    main = _head(astronaut, 1.0)
    smaller, larger = _head(astronaut, 0.7), _head(astronaut, 1.4)
    frames = [_canvas((main, 40, 60)) for _ in range(3)]
    frames += [_canvas((main, 40, 60), (smaller, 400, 100)) for _ in range(3)]
    frames += [_canvas((main, 40, 60), (larger, 360, 40)) for _ in range(3)]
    crops = list(FacePipeline(size=64, batch_size=4, detector=detector).process(enumerate(frames)))
    assert [c.frame for c in crops] == list(range(9))
    for c in crops:
        assert c.image is not None and _centre(c.box)[0] < 240, (c.frame, c.box)
    # on its own, the last frame's main face is the larger one: the overlap rule above did the work
    alone = next(FacePipeline(size=64, detector=detector).process([(0, frames[-1])]))
    assert _centre(alone.box)[0] > 360


def test_detect_every_k_tracks_between_detections(detector, astronaut):
    head = _head(astronaut, 1.0)
    frames = [_canvas((head, 40 + 7 * i, 60 + 2 * i)) for i in range(10)]
    every = list(FacePipeline(size=64, detector=detector).process(enumerate(frames)))
    # batch_size 2: three buffers, so tracking also bridges from one buffer into the next
    tracked = list(FacePipeline(size=64, batch_size=2, detect_every=4, detector=detector).process(enumerate(frames)))
    assert [c.tracked for c in tracked] == [i % 4 != 0 and i != 9 for i in range(10)]
    assert not any(c.tracked for c in every)
    for a, b in zip(every, tracked, strict=True):
        assert box_iou(np.array(a.box), np.array(b.box)) > 0.85, (a.frame, a.box, b.box)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 12
        # the face moves 7 px per frame: each tracked box is this frame's, not a neighbour's
        assert abs(_centre(b.box)[0] - (40 + 7 * b.frame + head.shape[1] / 2)) < 10


def test_detect_every_k_redetects_when_the_face_is_lost(detector, astronaut):
    head = _head(astronaut, 1.0)
    with_face = _canvas((head, 100, 60))
    without = _canvas()
    present = [True, True, True, False, False, False, True, True, True]
    frames = [with_face if p else without for p in present]
    crops = list(FacePipeline(size=64, batch_size=2, detect_every=4, detector=detector).process(enumerate(frames)))
    assert [c.image is not None for c in crops] == present
    assert [c.score == 0.0 for c in crops] == [not p for p in present]


def test_mtcnn_rows_equal_the_packages_detect_faces(detector, astronaut):
    """The pipeline's MTCNN call (images normalised once into a tensor) gives exactly the rows of the package's own
    ``detect_faces`` on the same batch: faces at several places and sizes, frames without a face, one frame."""
    frames = np.stack([_canvas((_head(astronaut, 0.3 + 0.1 * i), 40 + 90 * i, 30 + 20 * i), shape=(180, 320))
                       for i in range(3)] + [_canvas(shape=(180, 320))])
    rows = {}
    for name, batch in (("all", frames), ("one", frames[:1]), ("no face", frames[3:])):
        expected = detector.detect_faces(list(batch), output_type="numpy", box_format="xyxy", min_face_size=20)
        rows[name] = _mtcnn_rows(detector, batch, 20)
        assert rows[name].shape == expected.shape and np.array_equal(rows[name], expected)
    assert len(rows["all"]) >= 2 and len(rows["no face"]) == 0


def test_compiled_detector_gives_the_eager_crops(astronaut, monkeypatch):
    """compile_detector runs MTCNN's networks as tf.functions: the same boxes and crops as the eager package, on
    full detections and on tracked frames (O-Net alone), wrapped once however often it is asked."""
    import tfaffect.data.faces as faces

    head = _head(astronaut, 0.8)
    frames = [_canvas((head, 60 + 9 * i, 40 + 3 * i)) for i in range(7)]
    compiled = compile_detector(compile_detector(mtcnn.MTCNN()))
    wrapped = [stage._model for stage in compiled.stages]
    assert all(type(network).__name__ == "Function" for network in wrapped)  # tf.function, not the Keras model
    got = list(FacePipeline(size=64, batch_size=2, detect_every=3, detector=compiled).process(enumerate(frames)))
    assert [stage._model for stage in compiled.stages] == wrapped  # the pipeline did not wrap it again

    monkeypatch.setattr(faces, "compile_detector", lambda detector: detector)  # the control: the package as shipped
    eager = mtcnn.MTCNN()
    expected = list(FacePipeline(size=64, batch_size=2, detect_every=3, detector=eager).process(enumerate(frames)))
    assert not any(type(stage._model).__name__ == "Function" for stage in eager.stages)
    assert [c.tracked for c in got] == [c.tracked for c in expected] and any(c.tracked for c in got)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(b.box, a.box, atol=1e-3)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
