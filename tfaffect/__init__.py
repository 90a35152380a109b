"""tfaffect: deep models for facial affect in the wild (valence, arousal, expressions), in Keras 3.

Importing the package is cheap: TensorFlow and Keras load only when something that needs them is used.

The Python API of ``tfaffect predict`` (the same code the command runs; :mod:`tfaffect.predict`)::

    import tfaffect

    model = tfaffect.load_model("saved_models/affwildnet")     # .keras file, run directory or export folder
    table = tfaffect.predict("clip.mp4", model=model)          # pandas.DataFrame, a row per face and frame
    tables = tfaffect.predict(["a.mp4", "frames/"], model=model, out="predictions")  # files + summary.csv
    for rows in tfaffect.stream(0, model=model):               # camera 0: a DataFrame per frame, as it comes
        print(rows[["face_id", "valence", "arousal"]])

``tfaffect.predict`` is the module :mod:`tfaffect.predict`, which can be called: ``tfaffect.predict(...)`` is
:func:`tfaffect.predict.predict`.
"""

__version__ = "0.1.0"

EXPRESSIONS_7 = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
"""The 7 basic expression classes in Aff-Wild2 / ABAW1 order (FORMATS.md, Aff-Wild2 EXPR_Set)."""

_API = {"load_model": "load_model", "stream": "stream", "model_info": "model_info"}
"""Top-level names -> their functions in :mod:`tfaffect.predict`, imported on first use (PEP 562)."""

__all__ = ["__version__", "EXPRESSIONS_7", "predict", "stream", "load_model", "model_info"]


def __getattr__(name):
    if name == "predict" or name in _API:
        import importlib

        module = importlib.import_module("tfaffect.predict")  # also binds tfaffect.predict (callable)
        return module if name == "predict" else getattr(module, _API[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
