"""ANCLaF, the frame model (G, D and C trained adversarially), on SEWA DB with 5-fold cross-validation.

Paper:     Aspandi, Sukno, Schuller & Binefa 2021, "An Enhanced Adversarial Network with Combined Latent Features
           for Spatio-Temporal Facial Affect Estimation in the Wild" (VISAPP 2021), sections 3.1, 3.3-3.4, 4.
Table/row: Table 2, "ANCLaF".
Published: SEWA, 5-fold, labels in [-1, 1]: RMSE valence 0.354, arousal 0.347, AVG 0.351; COR 0.530 / 0.395 /
           0.462; CCC 0.492 / 0.364 / 0.428.
Runtime:   not given by the paper. Here, with no arguments: 1 min 55 s for the five folds on 2 CPU cores (load 2-3,
           2026-12-04), with SynthAffect's SEWA layout written and prepared at 64 px before (about 9 s; one
           recording per SynthAffect video, the same frames as recipes/anclaf_afew_va.py's layout); --smoke: fold
           0, two steps of a tiny model.
Command:   python recipes/anclaf_sewa.py                            # 5 folds + mean, SynthAffect (SEWA DB layout)
           python recipes/anclaf_sewa.py --fold 2                   # one fold
           python recipes/anclaf_sewa.py --data DIR                 # the paper (shards of `tfaffect prepare
                                                                    # --dataset sewa`, splits fold0..fold4)

Everything but the dataset is recipes/anclaf_afew_va.py's (subclassed: the same SynthAffect overlay, chosen and
measured there on AFEW-VA's layout, not re-measured on SEWA's). SEWA DB labels are already in [-1, 1] (FORMATS.md,
SEWA), so scale 1; the headline is Table 2's RMSE, COR and CCC. On SynthAffect the folds keep each identity
together (the layout's subjects.csv).

Learns, measured (the default command, five folds, the mean over folds +- their std, seed 0, 2026-12-04,
synthetic; labels in [-1, 1]): PCC valence 0.591 +- 0.115, arousal 0.520 +- 0.133; CCC 0.430 / 0.374; RMSE 0.359 /
0.352. Its shuffled-label control (--label-control shuffled, five folds, 1 min 58 s): PCC -0.019 / 0.099, CCC
-0.000 / 0.024, RMSE 0.458 / 0.442.
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.registry import find

AFEW_VA = find(str(Path(__file__).with_name("anclaf_afew_va.py")))


@dataclasses.dataclass(frozen=True)
class AnclafSewaRecipe(AFEW_VA):
    """ANCLaF on SEWA DB, 5-fold cross-validation (Aspandi 2021, Table 2, row "ANCLaF")."""

    layout = "sewa"
    label_scale = 1.0  # SEWA DB ratings are in [-1, 1] (FORMATS.md, SEWA); Table 2 reports RMSE on that scale
    headline = ("rmse_valence", "rmse_arousal", "pcc_valence", "pcc_arousal", "ccc_valence", "ccc_arousal")
    """Table 2's columns (RMSE, COR, CCC; valence, arousal)."""
    published_rows = (("aspandi2021", "Table 2", "ANCLaF"),)
    runtime = "about 25 s per fold, 2 min for five, on SynthAffect (2 CPU cores); not given by the paper"


if __name__ == "__main__":
    main(AnclafSewaRecipe)
