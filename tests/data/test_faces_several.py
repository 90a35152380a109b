"""Several faces per frame (FacePipeline.process_faces): every face, a face_id that stays with each face
across frames and across the pipeline's buffers, max_faces, and max_faces=1 = the main face.

The faces are the astronaut's head from ``skimage.data.astronaut()`` (bundled in the scikit-image wheel)
pasted at two or three places of grey 640x360 frames and moved a little from frame to frame.
"""

import cv2
import numpy as np
import pytest

from tfaffect.data.faces import TRACK_MEMORY, FacePipeline, crop_description


def _canvas(*pastes):
    frame = np.full((360, 640, 3), 90, np.uint8)
    for image, x, y in pastes:
        frame[y:y + image.shape[0], x:x + image.shape[1]] = image
    return frame


def _centre_x(crop):
    return (crop.box[0] + crop.box[2]) / 2


def test_two_faces_keep_their_ids_across_frames_and_buffers(detector, head):
    # left face moves right, right face moves left; 11 frames: keyframes 0, 4, 8 and 10 (the last),
    # batch_size 2 gives two buffers, so ids also carry from one buffer into the next
    frames = [_canvas((head, 60 + 6 * i, 80), (head, 450 - 6 * i, 150)) for i in range(11)]
    pipeline = FacePipeline(48, batch_size=2, detect_every=4, detector=detector)
    result = list(pipeline.process_faces(enumerate(frames)))
    assert [r.frame for r in result] == list(range(11))
    assert all(len(r.faces) == 2 for r in result), [len(r.faces) for r in result]
    left_id = min(result[0].faces, key=_centre_x).face_id
    for r in result:
        assert sorted(c.face_id for c in r.faces) == [0, 1]
        left = next(c for c in r.faces if c.face_id == left_id)
        right = next(c for c in r.faces if c.face_id != left_id)
        assert abs(_centre_x(left) - (60 + 6 * r.frame + 42.5)) < 12, (r.frame, left.box)
        assert abs(_centre_x(right) - (450 - 6 * r.frame + 42.5)) < 12, (r.frame, right.box)
        assert left.image.shape == (48, 48, 3) and left.score > 0.9
    # keyframes come from the full detector; between them (O-Net may reject a box, then that frame is detected)
    assert not any(c.tracked for i in (0, 4, 8, 10) for c in result[i].faces)
    assert sum(c.tracked for r in result for c in r.faces) >= 10


def test_max_faces_keeps_followed_faces_first_and_a_new_face_gets_a_new_id(detector, head):
    small = cv2.resize(head, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    large = cv2.resize(head, None, fx=1.4, fy=1.4, interpolation=cv2.INTER_AREA)
    frames = [_canvas((small, 60, 80)) for _ in range(3)] + [_canvas((small, 60, 80), (large, 380, 60))
                                                             for _ in range(3)]
    pipeline = FacePipeline(48, batch_size=4, detect_every=1, detector=detector)
    capped = list(pipeline.process_faces(enumerate(frames), max_faces=1))
    every = list(pipeline.process_faces(enumerate(frames)))
    # max_faces=1 is process(): the main face stays the small one although a larger one appears
    main = list(pipeline.process(enumerate(frames)))
    assert [[(c.face_id, c.box) for c in r.faces] for r in capped] == [[(0, c.box)] for c in main]
    assert all(_centre_x(r.faces[0]) < 200 for r in capped)
    assert [[c.face_id for c in r.faces] for r in every] == [[0]] * 3 + [[0, 1]] * 3
    assert all(_centre_x(r.faces[1]) > 380 for r in every[3:])
    # max_faces=2 with three faces: the followed face and the larger new one
    three = frames[:3] + [_canvas((small, 60, 80), (large, 380, 60), (head, 220, 220))] * 2
    two = list(pipeline.process_faces(enumerate(three), max_faces=2))
    assert all(len(r.faces) <= 2 for r in two)
    assert all(_centre_x(r.faces[0]) < 200 for r in two) and all(_centre_x(r.faces[1]) > 380 for r in two[3:])


def test_a_face_that_leaves_and_returns_keeps_its_id_within_the_track_memory(detector, head):
    present = [True] * 3 + [False] * 4 + [True] * 3
    frames = [_canvas((head, 200, 100)) if p else _canvas() for p in present]
    pipeline = FacePipeline(48, batch_size=2, detect_every=1, detector=detector)
    result = list(pipeline.process_faces(enumerate(frames)))
    assert [[c.face_id for c in r.faces] for r in result] == [[0] if p else [] for p in present]
    # a face that comes back after more than TRACK_MEMORY frames is a new face
    gap = [_canvas((head, 200, 100))] + [_canvas()] * (TRACK_MEMORY + 1) + [_canvas((head, 200, 100))]
    result = list(FacePipeline(48, batch_size=8, detect_every=8, detector=detector).process_faces(enumerate(gap)))
    assert [c.face_id for c in result[0].faces] == [0] and [c.face_id for c in result[-1].faces] == [1]


def test_bad_max_faces_is_refused(detector):
    pipeline = FacePipeline(48, detector=detector)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_faces"):
            list(pipeline.process_faces([(0, _canvas())], max_faces=bad))


def test_crop_description_matches_the_alignment():
    from tfaffect.data.faces import alignment_template

    facts = crop_description(96, 0.1)
    assert facts["size"] == [96, 96] and facts["colour_order"] == "RGB" and facts["margin"] == 0.1
    np.testing.assert_allclose(facts["template_points"], alignment_template(96, 0.1), atol=1e-4)
    assert "MTCNN" in facts["detector"] and "320" in facts["detector"]
    assert "nose tip" in facts["landmark_scheme"] and "36-41" in facts["landmark_scheme"]
