"""Reading Keras 2 HDF5 weight files (``save_weights``, or ``save`` with its ``model_weights`` group), h5py only.

The one reader of the format: :mod:`tfaffect.convert` turns released Keras 2 files into Keras 3
weights with it, and the models use :func:`is_keras2_h5` to refuse such a file with the ``tfaffect
convert`` command that converts it (a model loads Keras 3 weights only). It sits at the models layer,
the lowest that needs it, because the models must recognise the format and must not import convert.

Keras 2 stores one group per top-level layer, listed in the ``layer_names`` attribute of the root (or
of ``model_weights``); each group's ``weight_names`` attribute names its weights
``<layer>/<variable>:0``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import h5py
import numpy as np

from tfaffect.errors import DataError


@contextlib.contextmanager
def weights_root(path: str | os.PathLike) -> Iterator[h5py.Group]:
    """The open file's weight root: its ``model_weights`` group (a whole-model file) or the file itself.

    Raises:
        DataError: not a readable HDF5 file (naming it).
    """
    path = os.fspath(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"not a readable HDF5 file: {error}", path) from error
    with handle:
        yield handle["model_weights"] if "model_weights" in handle else handle


def is_keras2_h5(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Keras 2 HDF5 weight/model file (root or ``model_weights`` group with ``layer_names``)."""
    try:
        with weights_root(path) as root:
            return "layer_names" in root.attrs
    except DataError:
        return False


def group_weights(root: h5py.Group, layer: str, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{weight name: array}`` of the layer group ``root[layer]``: the weights its ``weight_names`` attribute
    lists, or (a file without that attribute) every dataset under it.

    Raises:
        DataError: a listed weight is not in the group (naming the file).
    """
    group = root[layer]
    if "weight_names" in group.attrs:
        names = [_text(name) for name in group.attrs["weight_names"]]
    else:
        names = []
        group.visit(lambda name: names.append(name) if isinstance(group[name], h5py.Dataset) else None)
    weights = {}
    for name in names:
        if name not in group:
            raise DataError(f"layer group {layer} lists weight {name} but does not hold it", path)
        weights[name] = np.asarray(group[name])
    return weights


def read_keras2_h5(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """All weights of a Keras 2 HDF5 file as ``{layer name: {variable: array}}``.

    A nested model's group holds its inner layers' weights under their own names, so the layer is
    taken from the weight name, not from the group. A layer stored twice (models sharing layers, as
    the released STAT models share the face model) keeps its first copy.

    Raises:
        DataError: not a readable HDF5 file, or not in the Keras 2 layout.
    """
    path = os.fspath(path)
    weights: dict[str, dict[str, np.ndarray]] = {}
    with weights_root(path) as root:
        if "layer_names" not in root.attrs:
            raise DataError("not a Keras 2 HDF5 weight file (no 'layer_names' attribute)", path)
        for group_name in (_text(n) for n in root.attrs["layer_names"]):
            if group_name not in root:
                raise DataError(f"layer group {group_name} is listed in 'layer_names' but missing", path)
            for weight_name, value in group_weights(root, group_name, path).items():
                layer, _, variable = weight_name.rpartition("/")
                weights.setdefault(layer, {}).setdefault(variable.split(":")[0], value)
    return weights


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


__all__ = ["group_weights", "is_keras2_h5", "read_keras2_h5", "weights_root"]
