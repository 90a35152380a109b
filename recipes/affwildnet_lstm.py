"""AffWildNet with LSTM cells instead of GRU: the CNN-LSTM row of Table 12.

Paper:     Kollias et al. 2019, IJCV, "Deep Affect Prediction in-the-wild" (Aff-Wild), section 4.2.2.2.
Table/row: Table 12, "best CNN-LSTM" (2 hidden layers of 128 units, as the CNN-GRU row).
Published: Aff-Wild test set, CCC valence 0.52, arousal 0.38; MSE valence 0.10, arousal 0.09.
Runtime:   about as recipes/affwildnet.py; it reuses the flagship's cached CNN stage at the same seed. Measured
           (seed 0, SynthAffect, synthetic, git ff91ddb, other jobs beside it on 2 CPU cores): 18 min 27 s
           with the CNN stage (9 min of it); validation CCC valence 0.821, arousal 0.877, MSE 0.069 / 0.044.
           Its shuffled-label control (--label-control shuffled, the CNN stage retrained on shuffled labels too;
           run of 2026-12-04, 13 min 58 s at load average ~2, the CNN stage 6 min 34 s of it): CCC 0.032 /
           -0.031, MSE 0.181 / 0.656 (per-video mean CCC 0.045 / -0.042).
Command:   python recipes/affwildnet_lstm.py [--data DIR --backbone-weights FILE]

Everything as recipes/affwildnet.py but the cell: LSTM "allowing peephole connections" (section
4.2.1.3), implemented by tfaffect.models.layers.PeepholeLSTMCell (Keras 3 has none).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path
from typing import Literal

from tfaffect.training.registry import find
from tfaffect.training.recipe import hparam

FLAGSHIP = find(str(Path(__file__).with_name("affwildnet.py")))
"""recipes/affwildnet.py's recipe: this one changes only what its row changes (and keeps its SynthAffect demo)."""


@dataclasses.dataclass(frozen=True)
class AffWildNetLSTMRecipe(FLAGSHIP):
    """AffWildNet with 2 x peephole LSTM 128 (Kollias 2019, Table 12 best CNN-LSTM)."""

    published_rows = (("kollias2019", "Table 12", "best CNN-LSTM"),)
    runtime = "about as affwildnet.py (this variant not timed)"

    cell: Literal["gru", "lstm"] = hparam("lstm", "Table 12: LSTM with peepholes (section 4.2.1.3)")


if __name__ == "__main__":
    main(AffWildNetLSTMRecipe)
