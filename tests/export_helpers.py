"""Shared by the export, conversion and predict tests: run ``export_load_check.py`` in a fresh process; weights
spread to O(1) for comparisons that mean something; a tiny video of one moving face and the face crops the
predict pipeline cuts from it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

LOAD_CHECK = Path(__file__).parent / "export_load_check.py"


def load_in_fresh_process(root: Path, jobs: list[dict]) -> dict:
    """Run export_load_check.py on ``jobs`` (written to ``root/job.json``); return its JSON report.

    Each job is ``{"saved_model": DIR, "inputs": IN.npz, "outputs": OUT.npz}`` (see that script).
    The process imports TensorFlow and NumPy only; tfaffect and keras are refused there.
    """
    (root / "job.json").write_text(json.dumps(jobs))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(LOAD_CHECK), str(root / "job.json")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread_weights(model, seed=0):
    """Redraw the weights so that outputs vary by O(1) between inputs: kernels He-normal (std
    sqrt(2 / fan_in), keeps ReLU activations from shrinking through the 13 conv layers), vectors
    (biases, peepholes) uniform in [-0.5, 0.5]. With Keras's default initialisers the tiny models'
    outputs differ by ~1e-5 between inputs, too little for a 1e-5 comparison to mean anything."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        shape = tuple(variable.shape)
        if len(shape) >= 2:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        else:
            value = rng.uniform(-0.5, 0.5, shape)
        variable.assign(value.astype(np.float32))
    return model


def write_face_video(path: Path, head: np.ndarray, frames: int = 7) -> Path:
    """A 320x180 MJPG video of ``frames`` frames: ``head`` (RGB) on grey, moving a little every frame."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 180))
    for index in range(frames):
        frame = np.full((180, 320, 3), 90, np.uint8)
        frame[30 + index % 2:130 + index % 2, 100 + 2 * index:185 + 2 * index] = head
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def face_crops(video: Path, size: int, detector) -> list:
    """The aligned faces (``size`` px) that predict's face pipeline cuts from ``video``, in frame order."""
    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames

    pipeline = FacePipeline(size, batch_size=4, detect_every=5, detect_max_side=320, detector=detector)
    return [c.image for c in pipeline.process((i, f) for i, _, f in iter_frames(video)) if c.image is not None]
