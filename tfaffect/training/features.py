"""The per-frame feature cache as a stage: a trained frame model's outputs over prepared data, computed once.

A recipe whose temporal model learns from a frame model's per-frame outputs (MM-Net's 512-d CNN features,
Kahou's pooled conv features and pre-softmax scores, ANCLaF's latents) declares a :class:`FeatureStage`
among the stages it :meth:`~tfaffect.training.recipe.Recipe.requires`, and reads what it extracted with
:func:`tfaffect.data.pipeline.make_feature_dataset`::

    def requires(self):
        cnn = RecipeStage(FrameCNN(seed=self.seed), "cnn", "frame_cnn")
        return {"cnn": cnn, "features": FeatureStage(cnn, {"fc": "features"}, label="frame_cnn_fc")}

    def datasets(self):
        features = self.stage_dir("features")
        return (make_feature_dataset(features, "train", mode="windows", seq_len=16, training=True, ...), ...)

The runner (:func:`tfaffect.training.runner.resolve`) resolves the source stage first, then extracts into
``$TFAFFECT_CACHE/<folder>/<label>-<hash>``, where the hash covers the source (its recipe stage's
fingerprint, or the model file's SHA-256), the outputs (name -> layer), the splits, the frame cut, and the
data's manifest: the same model on the same data is extracted once and reused (logged "reusing ..."),
another output layer or changed data is extracted anew. The shards are written as
:func:`tfaffect.data.features.write_features` writes them: atomic, resumable after a kill.

Each output is the named layer's output for each frame, flattened to a float32 vector (its layer shape is
recorded under ``producer`` in the manifest). ``"layer:key"`` names one entry of the dict output of a nested
model (a sub-model used as a layer), e.g. ``{"features": "face:features", "scores": "face:expression"}`` for
the face model inside a STAT + LSTM image model: the entry as that layer computes it within the outer model. The model sees the frames of the pipeline's evaluation pass
(every frame, centred ``crop`` resized to ``image_size``, no flip); a frame model with more inputs than
``image`` (landmarks) is not supported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import ClassVar, Mapping, Optional

import numpy as np

from tfaffect.data.features import FEATURES_VERSION, write_features
from tfaffect.data.lock import folder_lock
from tfaffect.data.tfrecord import MANIFEST_NAME, sha256_file
from tfaffect.errors import ConfigError
from tfaffect.training.stages import RecipeStage, Stage, stage_dir

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureStage:
    """Per-frame outputs of a trained frame model over prepared data (see the module docstring)."""

    source: RecipeStage | str | os.PathLike
    """The frame model: a :class:`RecipeStage` (its ``model.keras``, trained first) or a ``.keras`` file."""
    outputs: Mapping[str, str]
    """Output name (an identifier) -> the name of the model's layer whose output it is, or ``"layer:key"``: the
    entry ``key`` of the dict output of the nested model ``layer`` (see the module docstring)."""
    folder: str = "features"
    label: str = "features"
    data: str | os.PathLike | None = None
    """Prepared image data to extract from; default: the source recipe's data (its ``data_dir()``)."""
    splits: Optional[tuple[str, ...]] = None
    """The splits to extract; default: every split of the data."""
    crop: Optional[int] = None
    """Centred square cut from the stored frames first (as the pipeline's evaluation); default: none."""
    image_size: Optional[int] = None
    """Side the frames are resized to; default: the model's input side."""
    batch_size: int = 64
    """Frames per model call (does not change the result beyond float rounding; not in the fingerprint)."""
    action: ClassVar[str] = "extracted"

    def __post_init__(self):
        if not isinstance(self.source, (RecipeStage, str, os.PathLike)):
            raise ConfigError(f"FeatureStage {self.label!r}: source must be a RecipeStage or a .keras file, got "
                              f"{type(self.source).__name__}")
        if not isinstance(self.outputs, Mapping) or not self.outputs or not all(
                isinstance(layer, str) and layer for layer in self.outputs.values()):
            raise ConfigError(f"FeatureStage {self.label!r}: outputs must map output names to layer names, got "
                              f"{str(self.outputs)[:80]}")
        object.__setattr__(self, "outputs", dict(self.outputs))
        if self.splits is not None:
            object.__setattr__(self, "splits", tuple(self.splits))
        if self.batch_size < 1:
            raise ConfigError(f"FeatureStage {self.label!r}: batch_size must be >= 1, got {self.batch_size}")

    def model_path(self) -> Path:
        """The frame model's ``.keras`` file (that of the source stage's run directory)."""
        if isinstance(self.source, RecipeStage):
            return stage_dir(self.source) / "model.keras"
        return Path(self.source)

    def data_dir(self) -> Path:
        """The prepared image data the features are extracted from."""
        if self.data is not None:
            return Path(self.data)
        data_dir = getattr(getattr(self.source, "recipe", None), "data_dir", None)
        if data_dir is None:
            raise ConfigError(f"FeatureStage {self.label!r}: pass data=DIR (prepared images); a model file "
                              "source has no data of its own")
        return Path(data_dir()[0])

    def config(self) -> dict:
        """The settings that decide the result (JSON), besides the source model and the data."""
        return {"features_version": FEATURES_VERSION, "outputs": self.outputs,
                "splits": None if self.splits is None else list(self.splits), "crop": self.crop,
                "image_size": self.image_size}

    def source_fingerprint(self) -> str:
        """Hex fingerprint of the source model: its stage's, or its file's SHA-256."""
        if isinstance(self.source, RecipeStage):
            return self.source.fingerprint().hex()
        path = self.model_path()
        return sha256_file(path) if path.is_file() else f"missing:{path.name}"

    def fingerprint(self) -> bytes:
        digest = hashlib.sha256(json.dumps([self.config(), self.source_fingerprint()], sort_keys=True).encode())
        manifest = self.data_dir() / MANIFEST_NAME
        if manifest.is_file():
            digest.update(manifest.read_bytes())
        return digest.digest()

    def requires(self) -> Mapping[str, Stage]:
        return {"source": self.source} if isinstance(self.source, RecipeStage) else {}

    def finished(self, run_dir: Path) -> bool:
        """The extraction writes ``manifest.json`` last."""
        return (Path(run_dir) / MANIFEST_NAME).is_file()

    def run(self, run_dir: Path, *, verbose: Optional[int] = None) -> None:
        """Extract into ``run_dir`` (resuming an interrupted extraction); one process at a time per directory."""
        run_dir = Path(run_dir)
        with folder_lock(run_dir.parent, run_dir.name, what=f"features {run_dir.name}"):
            if self.finished(run_dir):  # another process finished it while this one waited
                return
            extract, shapes, size = self.extractor()
            write_features(self.data_dir(), run_dir, extract, outputs={name: [int(np.prod(shape))]
                                                                      for name, shape in shapes.items()},
                           producer=self.producer(shapes), splits=self.splits, crop=self.crop,
                           image_size=self.image_size or size, batch_size=self.batch_size,
                           progress=None if verbose is None else bool(verbose))

    def producer(self, shapes: Mapping[str, tuple[int, ...]]) -> dict:
        """What computed the features, for the manifest: the source model, the layers and their shapes."""
        if isinstance(self.source, RecipeStage):
            model = {"stage": f"{self.source.folder}/{self.source.label}"}
        else:
            model = {"file": self.model_path().name}
        return {"model": {**model, "fingerprint": self.source_fingerprint()}, "layers": self.outputs,
                "layer_shapes": {name: list(shape) for name, shape in shapes.items()}}

    def extractor(self):
        """``(extract, {name: layer output shape per frame}, the model's input side)`` for
        :func:`~tfaffect.data.features.write_features`: the model cut at the named layers, run on batches."""
        import keras

        from tfaffect.models.saving import load_model

        path = self.model_path()
        model = load_model(path)
        inputs = model.input
        if isinstance(inputs, Mapping):
            if set(inputs) != {"image"}:
                raise ConfigError(f"{path}: the model takes {sorted(inputs)}; a FeatureStage feeds it frames only "
                                  "(x['image'])")
            image = inputs["image"]
        else:
            image = inputs
        outputs = {}
        for name, layer_name in self.outputs.items():
            try:
                outputs[name] = _layer_output(model, layer_name)
            except (ValueError, AttributeError, KeyError) as exc:
                raise ConfigError(f"{path}: output {name!r}: no single output of a layer {layer_name!r} ({exc}); "
                                  f"its layers: {', '.join(layer.name for layer in model.layers)}") from None
        shapes = {name: tuple(tensor.shape[1:]) for name, tensor in outputs.items()}
        for name, shape in shapes.items():
            if any(d is None for d in shape):
                raise ConfigError(f"{path}: output {name!r} ({self.outputs[name]}) has no fixed size per frame: "
                                  f"{shape}")
        cut = keras.Model(inputs, outputs)
        feed = (lambda images: {"image": images}) if isinstance(inputs, Mapping) else (lambda images: images)

        def extract(images: np.ndarray) -> dict[str, np.ndarray]:
            values = cut.predict_on_batch(feed(images))
            return {name: np.asarray(value, np.float32).reshape(len(images), -1) for name, value in values.items()}

        return extract, shapes, image.shape[1]


def _layer_output(model, spec: str):
    """The symbolic output named by ``spec`` in ``model``'s graph: ``"layer"``'s output, or for ``"layer:key"``
    entry ``key`` of the dict output of the nested model ``layer``, from its call in ``model`` (a nested model's
    own ``output`` belongs to its inner graph)."""
    import keras

    layer_name, _, key = spec.partition(":")
    layer = model.get_layer(layer_name)
    if not key:
        return layer.output
    if not isinstance(layer, keras.Model) or not isinstance(layer.output, Mapping):
        raise ValueError(f"'{layer_name}:{key}' names an entry of a nested model's dict output; {layer_name!r} is a "
                         f"{type(layer).__name__}")
    called = keras.Operation.output.fget(layer)  # the flat outputs of its (first) call in model's graph
    entries = keras.tree.pack_sequence_as(layer.output, called)
    if key not in entries:
        raise ValueError(f"{layer_name!r} outputs {', '.join(sorted(entries))}, not {key!r}")
    return entries[key]


__all__ = ["FeatureStage"]
