"""Load tfaffect exports with TensorFlow alone and run their signatures (helper of tests/test_export.py).

Run in a fresh process: ``python tests/export_load_check.py JOB.json``. ``JOB.json`` is a list of
``{"saved_model": DIR, "inputs": IN.npz, "outputs": OUT.npz}``. ``IN.npz`` holds, per case name
``C``, ``frames_C`` (uint8 ``[B, T, H, W, 3]``) and, for landmark models, ``landmarks_C``. For each
case ``OUT.npz`` receives ``serve/C/<output>`` (the ``serve`` signature on the whole sequence) and
``step/C/<output>`` (``step`` fed the frames one at a time from ``initial_state``, stacked on the
time axis), where the SavedModel has ``step``.

Only TensorFlow and NumPy are used: once TensorFlow is imported (its own start-up looks keras up),
importing ``tfaffect`` or ``keras`` raises ImportError in this process, so a SavedModel whose
loading or running needed either would fail here. Prints one JSON line:
``{"signatures": {DIR: [names]}, "metadata": {DIR: what the ``metadata`` signature returns, parsed},
"blocked_imports": [names TensorFlow tried and was refused]}``.
"""

import importlib.abc
import json
import sys

BLOCKED = ("tfaffect", "keras")
attempted = []


class _Block(importlib.abc.MetaPathFinder):
    """Refuses the packages in BLOCKED (and records each attempt)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempted.append(name)
            raise ImportError(f"{name} is blocked: an export must load with TensorFlow alone")
        return None


EMBEDDED = {}


def run_job(job: dict) -> list[str]:
    import numpy as np
    import tensorflow as tf

    model = tf.saved_model.load(job["saved_model"])
    names = sorted(model.signatures)
    if "metadata" in model.signatures:
        EMBEDDED[job["saved_model"]] = json.loads(model.signatures["metadata"]()["json"].numpy().decode("utf-8"))
    inputs = np.load(job["inputs"])
    results = {}
    for key in inputs.files:
        if not key.startswith("frames_"):
            continue
        case = key[len("frames_"):]
        frames = inputs[key]
        landmarks = inputs[f"landmarks_{case}"] if f"landmarks_{case}" in inputs.files else None
        extra = {} if landmarks is None else {"landmarks": landmarks}
        for name, value in model.signatures["serve"](frames=tf.constant(frames), **extra).items():
            results[f"serve/{case}/{name}"] = value.numpy()
        if "step" not in model.signatures:
            continue
        state = model.signatures["initial_state"](batch_size=tf.constant(frames.shape[0], tf.int32))["state"]
        steps = []
        for t in range(frames.shape[1]):
            extra = {} if landmarks is None else {"landmarks": tf.constant(landmarks[:, t])}
            out = model.signatures["step"](frame=tf.constant(frames[:, t]), state=state, **extra)
            state = out.pop("state")
            steps.append({name: value.numpy() for name, value in out.items()})
        for name in steps[0]:
            results[f"step/{case}/{name}"] = np.stack([s[name] for s in steps], axis=1)
    np.savez(job["outputs"], **results)
    return names


def main(argv: list[str]) -> int:
    import tensorflow  # noqa: F401  (imported before the block: its start-up probes for keras)

    sys.meta_path.insert(0, _Block())
    with open(argv[1], encoding="utf-8") as f:
        jobs = json.load(f)
    signatures = {job["saved_model"]: run_job(job) for job in jobs}
    print(json.dumps({"signatures": signatures, "metadata": EMBEDDED, "blocked_imports": sorted(set(attempted))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
