"""Export a trained model as a SavedModel other TensorFlow programs load (`tfaffect export`).

:func:`export_model` writes one folder that is at once a SavedModel (``tf.saved_model.load(folder)``)
and holds, beside ``saved_model.pb``::

    metadata.json       input size, preprocessing, the face crop the model expects (``face_crop``:
                        detector, landmark scheme, alignment template, margin, size, colour order),
                        signatures, outputs, state layout, versions, plus what the caller gives
                        (recipe, training data: ``training_data["synthetic"]`` is true for a model
                        trained on SynthAffect only, metrics)
    model.keras         the same model for Keras users (``keras.saving.load_model``; import
                        ``tfaffect.models`` first so its classes are registered)
    per_frame.tflite    TFLite conversion of the per-frame part, where it converts (:mod:`tfaffect.export.tflite`)

The folder is written under a temporary name (``.NAME.tmp-<host>-<pid>``, :func:`tfaffect.io.temp_path`)
and renamed into place, so it is either complete or absent; temporary folders of exports that were
killed mid-write are removed by the next export into the same parent folder.

Signatures (also the loaded object's attributes of the same names). All take **raw uint8 RGB face
crops of any size** H x W and do the model's preprocessing inside: each crop is resized to the
model's input size with ``tf.image.resize`` (bilinear, antialias), rounded and clipped back to
uint8 (exactly what the training pipeline, :mod:`tfaffect.data.pipeline`, does with its crops;
crops already at the input size pass unchanged), then the model scales them itself
(``(x - 128) / 128`` for the Aff-Wild models).

``serve(frames)``
    ``frames``: uint8 ``[B, T, H, W, 3]``, any ``T >= 1`` (a model built for a fixed length takes
    only that ``T``, recorded in ``metadata.json["input"]["time"]``). Returns ``valence`` and ``arousal``
    float32 ``[B, T]`` (index 0 and 1 of the model's ``"va"`` output), ``expression`` float32
    ``[B, T, 7]`` probabilities in :data:`tfaffect.EXPRESSIONS_7` order when the model has that
    output, and any other output of the model under its own name: an ANCLaF-SA-n model's ``attention``
    float32 ``[B, T, n]``, each frame's attention weights over the previous n frames (oldest first;
    described in ``metadata.json``). Frame models (CNN-only, no time
    axis) see the ``B * T`` frames as one batch, so the signature is the same for every model.
``initial_state(batch_size)``
    ``batch_size``: int32 scalar. Returns ``state``: float32 ``[batch_size, S]``, the recurrent
    layers' initial states (zeros for GRU/LSTM) packed side by side; ``S = 0`` for models without
    recurrent layers; for windowed models (``step``) zeros: empty frame buffers and a 0 "started"
    column. ``metadata.json["state"]`` gives which columns belong to which layer.
``step(frame, state)``
    Streaming inference, one frame per call at constant cost: ``frame`` uint8 ``[B, H, W, 3]``,
    ``state`` as above. Returns the outputs of ``serve`` for that frame (``valence`` ``[B]``, ...)
    and the new ``state``. Feeding frames ``0..T-1`` one by one from ``initial_state`` gives what
    ``serve`` gives on the whole sequence; the export checks this on random frames and leaves
    ``step`` and ``initial_state`` out (saying why in ``metadata.json``) for a model where it does
    not hold: one with a bidirectional layer over the clip, or one that sees later frames. Windowed
    models, whose frames see a causal window of the ``s`` latest per-frame vectors (the STAT
    models 3-6 of :mod:`tfaffect.models.stat_lstm`, Do 2020 Table I), stream with a buffer of the
    last ``s`` per-frame vectors as state (:mod:`tfaffect.export.streaming` says how ``step`` is made).
    Models that average a bidirectional net over every stride-1 window of L frames around each frame
    (MM-Net, Li 2017) stream with a fixed delay: ``step`` returns the outputs of the frame ``L - 1``
    frames back (``metadata.json["delay"]``) and ``ready`` float32 ``[B]`` (0 for the first ``L - 1``
    frames of a stream); their state holds the last ``2L - 1`` per-frame features and a frame count.
``flush(state)``
    Delayed models only: the stream's last ``L - 1`` frames (``valence`` ``[B, L - 1]``, ..., oldest
    first) from the state after its last ``step``, and ``valid`` ``[B, L - 1]`` (0 for rows before the
    first frame of a stream shorter than that). The ready ``step`` outputs followed by the valid
    ``flush`` rows equal ``serve`` on the whole stream; the export checks this on random frames.
``per_frame(image)``
    The per-frame part alone, on crops already at the model's input size (no resize): ``image``
    uint8 ``[N, S, S, 3]`` (+ ``landmarks`` ``[N, 68, 2]`` in units of that size). Sequence models
    return ``features`` ``[N, F]``, what enters the first recurrent layer; windowed models the
    per-frame vectors their windows and head read, named after the layers computing them (STAT:
    ``unfold_features``, ``unfold_scores``); frame models return their outputs (``valence``
    ``[N]``, ...). Exported with ``step``; it is what TFLite converts.
``clip(frames, lengths)``
    Only for clip models (a class attribute ``clip_outputs``: Kahou 2015's CNN + IRNN, whose output after a
    clip's last frame is the clip's prediction), exported with ``step`` (whose check shows that a frame's
    outputs depend on it and earlier frames only): ``frames`` as ``serve``, clips padded to ``T``, and
    ``lengths`` int32 ``[B]`` (1..T); returns those outputs at each clip's last valid frame (``expression``
    float32 ``[B, 7]``), so the padding changes nothing. A length outside 1..T is an ``InvalidArgumentError``.
``serving_default``
    The same function as ``serve`` (TF Serving needs that name).
``metadata()``
    No inputs; returns ``json``: a string scalar holding ``metadata.json`` (without the TFLite record,
    which is written after the SavedModel), so the facts travel with ``saved_model.pb`` even where only
    the SavedModel is copied (a TF Serving model folder): ``json.loads(model.metadata()["json"].numpy())``.

Models built with landmarks (``landmarks=True``) take a second input ``landmarks``: float32
``[B, T, 68, 2]`` for ``serve``, ``[B, 68, 2]`` for ``step``: the 68 points' ``(x, y)`` pixel
coordinates in the given crop divided by the crop's width and height (so in [0, 1] inside the
crop; the data contract's units). They are moved to the resized crop's pixel grid inside
(:func:`tfaffect.data.tfrecord.normalise_landmarks`); a frame whose 136 values are all 0 means
"unknown", as in training, and stays 0.

The variables are saved once, shared by the signatures (``keras.export.ExportArchive``).

A run whose ``model.keras`` reads cached per-frame features (Kahou's IRNN, ANCLaF-S / -SA) also holds
``image_model.keras``, the same model with its per-frame part in front; exporting the run exports that one with
the trained weights (:func:`~tfaffect.export.runs.load_run`), so the signatures take face crops as above.

Use from any TensorFlow program::

    model = tf.saved_model.load("saved_models/affwildnet")
    out = model.serve(frames)                          # frames: uint8 [B, T, H, W, 3]
    state = model.initial_state(1)["state"]            # streaming, e.g. from a webcam
    for frame in webcam:                               # frame: uint8 [H, W, 3]
        out = model.step(frame=frame[None], state=state)
        state = out["state"]                           # out["valence"][0], out["arousal"][0]

The modules: :mod:`~tfaffect.export.streaming` (the model's structure: recurrent layers and causal
windows, the per-frame pieces, chunked sequences; also used by :mod:`tfaffect.predict`),
:mod:`~tfaffect.export.signatures` (the signature functions, the step check, metadata.json,
:func:`export_model`), :mod:`~tfaffect.export.tflite` (the TFLite conversion), :mod:`~tfaffect.export.runs`
(a run directory as the source of an export) and :mod:`~tfaffect.export.cli` (``tfaffect export``).
Importing them loads no TensorFlow until a model is exported (``tfaffect export --help`` stays quick).
"""

from tfaffect.export.cli import add_cli_arguments, cli_main
from tfaffect.export.runs import SYNTHAFFECT, load_run, training_data
from tfaffect.export.signatures import METADATA_FILE, export_model
from tfaffect.export.streaming import ChunkedSequence, inference_copy, inference_function

__all__ = ["METADATA_FILE", "SYNTHAFFECT", "ChunkedSequence", "add_cli_arguments", "cli_main", "export_model",
           "inference_copy", "inference_function", "load_run", "training_data"]
