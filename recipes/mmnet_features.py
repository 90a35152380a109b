"""MM-Net's BDLSTM (C = 250, L = 11) on each of Table 3's feature sets: FT, No FT, FT + No FT.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.1.2, 3.2.2.
Table/row: Table 3, one row per input: --row "BDLSTM" (default: the fine-tuned CNN's 512-d features, FT),
           "BDLSTM No FT" (the expression-pre-trained CNN's), "BDLSTM FT+No FT" (both, 1024-d: Table 4's model).
Published: Aff-Wild, MSE = the mean of the valence and arousal MSEs, FACE frames, training / validation (38
           videos): BDLSTM 0.03423 / 0.09842; BDLSTM No FT 0.098882 / 0.107055; BDLSTM FT+No FT 0.025454 / 0.098333.
Runtime:   RUNTIME_FEATURES
Command:   python recipes/mmnet_features.py --row "BDLSTM No FT"            # SynthAffect, demo budget
           python recipes/mmnet_features.py --row "BDLSTM No FT" --data DIR # the paper's budget (GPU)

Everything but the input as recipes/mmnet_bdlstm.py (tfaffect/training/mmnet.py, MMNetRecipe): the CNN stages and
both feature caches are shared with it; the SynthAffect overlay is every MM-Net recipe's (MMNetRecipe.synthaffect).
metrics.json's ``mse_validation`` is Table 3's validation column (the training MSE is not computed).

LEARNS_FEATURES
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, TABLE3_ROWS, MMNetRecipe


@dataclasses.dataclass(frozen=True)
class MMNetFeaturesRecipe(MMNetRecipe):
    """Li 2017, Table 3: the BDLSTM C=250, L=11 on the features chosen by --row."""

    table = "Table 3, rows BDLSTM, BDLSTM No FT, BDLSTM FT+No FT"
    runtime = "RUNTIME_FEATURES"
    rows = {row: {"features": features} for row, features in TABLE3_ROWS.items()}

    def published_keys(self):
        return ((LI2017, "Table 3", next(row for row, f in TABLE3_ROWS.items() if f == self.features)),)


if __name__ == "__main__":
    main(MMNetFeaturesRecipe)
