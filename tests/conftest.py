import os
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# hypothesis writes a cache in the working directory even with database=None: keep tests out of the tree
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "tfaffect-hypothesis"))


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False,
                     help="also run tests marked large (full-size models, long training)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large test: run with --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def detector():
    """MTCNN (weights in the wheel) for tests that detect real faces."""
    import mtcnn

    return mtcnn.MTCNN()


@pytest.fixture(scope="module")
def head():
    """A real face (scikit-image's astronaut), 85 x 100 px, to paste into test frames."""
    import cv2
    from skimage import data as skimage_data

    return cv2.resize(skimage_data.astronaut()[30:230, 140:310], (85, 100), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def landmarker():
    """dlib's 68-point predictor (the `landmarks` extra); the test is skipped where it is not installed."""
    pytest.importorskip("dlib", reason="dlib is an optional extra (pip install 'tfaffect[landmarks]')")
    from tfaffect.data.landmarks68 import Landmarks68
    from tfaffect.errors import MissingResourceError

    try:
        return Landmarks68()
    except MissingResourceError as e:
        pytest.skip(f"dlib's 68-point model file is not installed: {e}")
