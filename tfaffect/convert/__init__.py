"""Convert published weights into tfaffect's Keras models (`tfaffect convert SOURCE`), one module per source.

``affwildnet-tf1``: :mod:`tfaffect.convert.affwildnet_tf1`
    The two released AffWildNet TF1 checkpoints (VGG-Face-GRU, ResNet-GRU) -> an export folder
    (SavedModel, ``model.keras``, ``metadata.json``), proven against the original TF1 graphs.
``vggface-h5``: :mod:`tfaffect.convert.vggface`
    keras-vggface's VGG16 Keras 2 file -> ``vggface.weights.h5`` for ``backbone_weights=``.
``stat-lstm-face``: :mod:`tfaffect.convert.stat_lstm`
    Do 2020's released Keras 2 face feature model -> ``face.weights.h5`` for ``FaceFeatureModel``.

The Keras 2 HDF5 files are read by the one reader :mod:`tfaffect.models.keras2_h5` (at the models layer,
because the models recognise such a file to refuse it with the command that converts it). Every command
writes atomically and adds a ``metadata.json`` recording the source and the weight map. Importing this
package (to build ``tfaffect convert --help``) loads no TensorFlow: Keras, TensorFlow and the models are
imported on first use (:mod:`tfaffect._lazy`).
"""

from tfaffect.convert.cli import add_cli_arguments, cli_main

__all__ = ["add_cli_arguments", "cli_main"]
