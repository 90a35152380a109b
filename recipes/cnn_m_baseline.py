"""The Aff-Wild challenge baseline: CNN-M (Table 4) trained with MSE.

Paper:     Kollias et al. 2019, IJCV, "Deep Affect Prediction in-the-wild" (Aff-Wild), section 4.1.1.
Table/row: Table 5, "CNN M".
Published: Aff-Wild test set, CCC valence 0.15, arousal 0.10; MSE valence 0.13, arousal 0.14.
Runtime:   the paper: 4-5 days on a GTX TITAN X. Here on SynthAffect (demo budget, see
           AffWildRecipe.synthaffect): a few minutes on 2 CPU cores.
Command:   python recipes/cnn_m_baseline.py [--data DIR]

Section 4.1.1: Adam, MSE loss, batch 80, constant learning rate 0.001, FC 4096 (weights truncated
normal, variance 0.1, biases 1). The paper fine-tuned CNN-M pretrained on FaceValue (not available);
the challenge baseline does not mention the quadrant oversampling of section 4.2, so none here.
Frames are single images: no landmarks, no recurrence.
"""

import dataclasses
from typing import Literal

from tfaffect.training.affwild import AffWildRecipe
from tfaffect.training.recipe import hparam
from tfaffect.launch import main


@dataclasses.dataclass(frozen=True)
class CNNMBaselineRecipe(AffWildRecipe):
    """CNN-M challenge baseline (Kollias 2019, Table 5): Table 4 network, MSE loss, batch 80."""

    published_rows = (("kollias2019", "Table 5", "CNN-M"),)
    runtime = "a few minutes on 2 CPU cores on SynthAffect (demo budget); 4-5 days on a GPU in the paper"

    architecture: Literal["cnn_m", "cnn", "affwildnet"] = hparam("cnn_m", "Table 4")
    landmarks: bool = hparam(False, "the baseline takes images only (Table 4)")
    loss: Literal["ccc", "mse"] = hparam("mse", "section 4.1.1: Mean Squared Error as the cost function")
    quadrant_targets: tuple[float, ...] = hparam((), "section 4.1.1 mentions no oversampling")
    batch_size: int = hparam(80, "section 4.1.1: batch size 80 (frames)")


if __name__ == "__main__":
    main(CNNMBaselineRecipe)
