"""The optional 68-point detector (dlib's shape predictor): where its model file is looked for, the
errors when dlib or the file is absent, and, where both are installed, points on a real face.

The real-face checks compare dlib's points with MTCNN's five points on ``skimage.data.astronaut()``
(a photo bundled in the scikit-image wheel): two independent detectors must agree on where the eyes,
nose tip and mouth corners are.
"""

import sys

import numpy as np
import pytest

from tfaffect.data import landmarks68
from tfaffect.data.landmarks68 import ENV_VAR, MODEL_FILE, Landmarks68, candidate_paths, find_model_file
from tfaffect.errors import MissingResourceError


def test_explicit_path_that_is_missing_names_it_and_what_to_install(tmp_path):
    missing = tmp_path / "nothing.dat"
    with pytest.raises(MissingResourceError) as info:
        find_model_file(missing)
    message = str(info.value)
    assert str(missing) in message
    for hint in ("pip install dlib-bin", "libdlib-data", "face-recognition-models", ENV_VAR, "--landmarks-model"):
        assert hint in message


def test_environment_variable_is_the_only_candidate(tmp_path, monkeypatch):
    missing = tmp_path / "env.dat"
    monkeypatch.setenv(ENV_VAR, str(missing))
    assert candidate_paths() == [missing]
    with pytest.raises(MissingResourceError, match="env.dat"):
        find_model_file()
    present = tmp_path / MODEL_FILE
    present.write_bytes(b"x")
    monkeypatch.setenv(ENV_VAR, str(present))
    assert find_model_file() == present
    explicit = tmp_path / "explicit.dat"
    explicit.write_bytes(b"x")
    assert find_model_file(explicit) == explicit  # an explicit path wins over the environment variable


def test_known_locations_debian_then_face_recognition_models(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    package = tmp_path / "site" / "face_recognition_models"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / "models" / MODEL_FILE).write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    expected = [landmarks68.DEBIAN_DIR / MODEL_FILE, package / "models" / MODEL_FILE]
    assert [p.resolve() for p in candidate_paths()] == [p.resolve() for p in expected]
    if not expected[0].is_file():  # on a machine with libdlib-data the Debian file comes first
        assert find_model_file().resolve() == expected[1].resolve()


def test_without_dlib_module_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` raise ImportError
    with pytest.raises(MissingResourceError, match="dlib module is not installed.*pip install dlib-bin"):
        Landmarks68(tmp_path / MODEL_FILE)


@pytest.fixture(scope="module")
def astronaut_mtcnn():
    """The photo and MTCNN's most confident face on it: box (x0, y0, x1, y1) and five points."""
    import mtcnn
    from skimage import data

    photo = data.astronaut()
    rows = mtcnn.MTCNN().detect_faces(photo, output_type="numpy", box_format="xyxy")
    best = rows[int(np.argmax(rows[:, 5]))]
    return photo, best[1:5], np.stack([best[6:11], best[11:16]], axis=1)


def test_points_land_on_the_face_where_mtcnn_puts_them(landmarker, astronaut_mtcnn):
    from tfaffect.data.faces import points5_from_68

    photo, box, mtcnn_points = astronaut_mtcnn
    points = landmarker(photo, box)
    assert points.shape == (68, 2) and points.dtype == np.float64
    # eye centres, nose tip, mouth corners: within 4 px of MTCNN's (the face is about 80 px wide)
    np.testing.assert_array_less(np.linalg.norm(points5_from_68(points) - mtcnn_points, axis=1), 4.0)
    x0, y0, x1, y1 = box
    width = x1 - x0
    assert (points[:, 0] > x0 - 0.2 * width).all() and (points[:, 0] < x1 + 0.2 * width).all()
    assert (points[:, 1] > y0 - 0.2 * width).all() and (points[:, 1] < y1 + 0.2 * width).all()
    # iBUG order: jaw runs from the image's left (0) to its right (16), chin (8) lowest of the jaw,
    # brows (17-26) above the eyes (36-47), eyes above the nose tip (30), nose above the mouth (48-67)
    assert points[0, 0] < points[8, 0] < points[16, 0]
    assert points[8, 1] == points[:17, 1].max()
    assert points[17:27, 1].mean() < points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()


def test_points_are_frame_pixels_and_follow_a_shift(landmarker, astronaut_mtcnn):
    """Moving the face by whole pixels (frame padded, box moved) moves every point by exactly as much."""
    photo, box, _ = astronaut_mtcnn
    box = np.round(box)
    dx, dy = 37, 11
    shifted = np.zeros((photo.shape[0] + dy, photo.shape[1] + dx, 3), np.uint8)
    shifted[dy:, dx:] = photo
    np.testing.assert_array_equal(landmarker(shifted, box + [dx, dy, dx, dy]), landmarker(photo, box) + [dx, dy])


def test_rejects_a_frame_that_is_not_rgb_uint8(landmarker):
    with pytest.raises(ValueError, match="RGB uint8"):
        landmarker(np.zeros((10, 10), np.uint8), (0, 0, 5, 5))
