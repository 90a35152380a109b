"""The Table 14 grid: AffWildNet's CNN-GRU with 1 or 2 hidden layers of 100, 128 or 150 units.

Paper:     Kollias et al. 2019, IJCV, "Deep Affect Prediction in-the-wild" (Aff-Wild), section 4.2.2.2.
Table/row: Table 14, one cell per --row: "100 units, 1 layer", "100 units, 2 layers", "128 units,
           1 layer", "128 units, 2 layers", "150 units, 1 layer", "150 units, 2 layers".
Published: Aff-Wild test set CCC (valence / arousal): 100: 0.44/0.36 and 0.50/0.41; 128: 0.53/0.40 and
           0.57/0.43; 150: 0.46/0.39 and 0.51/0.41 (1 and 2 layers). The table gives no MSE.
Runtime:   about as recipes/affwildnet.py per cell (the cells share its cached CNN stage at the same seed).
           The default cell, "100 units, 1 layer", took 14 min 35 s with its CNN stage on 2 CPU cores
           (load average 2-3, other jobs beside it; 2026-12-03).
Learns:    the default cell on SynthAffect (synthetic; validation, the 8 unseen people, 3,515 frames
           concatenated, seed 0): CCC valence 0.896, arousal 0.836; MSE 0.050 / 0.097 (per-video mean CCC
           0.832 / 0.703). Its shuffled-label control (--label-control shuffled, the CNN stage retrained on
           shuffled labels too; 7 min 18 s from nothing at load ~1, 2026-12-04): CCC -0.007 / -0.022, MSE
           0.811 / 0.190 (per-video mean CCC 0.001 / 0.000).
Command:   python recipes/affwildnet_grid.py --row "150 units, 1 layer" [--data DIR]

Everything else as recipes/affwildnet.py (VGG-Face conv, landmarks, FC 4096, GRU, CCC loss, Adam).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.registry import find

FLAGSHIP = find(str(Path(__file__).with_name("affwildnet.py")))
"""recipes/affwildnet.py's recipe: this one changes only what its row changes (and keeps its SynthAffect demo)."""


@dataclasses.dataclass(frozen=True)
class AffWildNetGridRecipe(FLAGSHIP):
    """AffWildNet CNN-GRU hidden-size grid (Kollias 2019, Table 14): pick the cell with --row."""

    table = "Table 14, 6 cells (units x layers)"
    runtime = "about as affwildnet.py per cell (not timed per cell)"
    rows = {f"{units} units, {layers} layer{'s' * (layers > 1)}": {"units": units, "num_layers": layers}
            for units in (100, 128, 150) for layers in (1, 2)}  # Table 14

    def published_keys(self):
        return (("kollias2019", "Table 14", self.row),)


if __name__ == "__main__":
    main(AffWildNetGridRecipe)
