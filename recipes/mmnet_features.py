"""MM-Net's BDLSTM (C = 250, L = 11) on each of Table 3's feature sets: FT, No FT, FT + No FT.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.1.2, 3.2.2.
Table/row: Table 3, one row per input: --row "BDLSTM" (default: the fine-tuned CNN's 512-d features, FT),
           "BDLSTM No FT" (the expression-pre-trained CNN's), "BDLSTM FT+No FT" (both, 1024-d: Table 4's model).
Published: Aff-Wild, MSE = the mean of the valence and arousal MSEs, FACE frames, training / validation (38
           videos): BDLSTM 0.03423 / 0.09842; BDLSTM No FT 0.098882 / 0.107055; BDLSTM FT+No FT 0.025454 / 0.098333.
Runtime:   the paper: not given (GPU). Here, on 2 CPU cores (load average ~2), measured 2026-12-04 on SynthAffect
           with the CNN stages and feature caches cached (recipes/mmnet_bdlstm.py's run): 38 s (BDLSTM), 47 s
           (No FT), 56 s (FT+No FT); from nothing add about 5.5 min for those stages.
Command:   python recipes/mmnet_features.py --row "BDLSTM No FT"            # SynthAffect, demo budget
           python recipes/mmnet_features.py --row "BDLSTM No FT" --data DIR # the paper's budget (GPU)

Everything but the input as recipes/mmnet_bdlstm.py (tfaffect/training/mmnet.py, MMNetRecipe): the CNN stages and
both feature caches are shared with it; the SynthAffect overlay is every MM-Net recipe's (MMNetRecipe.synthaffect).
metrics.json's ``mse_validation`` is Table 3's validation column (the training MSE is not computed).

Re-measured 2026-12-05 with the CNN stages trained 1,600 steps of 32 faces each (the overlay, was 320:
tfaffect/training/mmnet.py; seed 0, synthetic, 2 idle cores; the figures below this paragraph are those of 320
steps, 2026-12-04): CCC valence / arousal, MSE valence / arousal, mse_validation: BDLSTM (FT) 0.198 / 0.721, 0.211
/ 0.070, 0.140; No FT 0.008 / 0.711, 0.266 / 0.084, 0.175; FT+No FT 0.096 / 0.707, 0.223 / 0.091, 0.157. Their
shuffled-label controls: CCC 0.004 / -0.005, MSE 0.172 / 0.204 (BDLSTM); -0.001 / -0.010, 0.173 / 0.204 (No FT);
-0.004 / 0.001, 0.178 / 0.184 (FT+No FT): every row beats its control on arousal (CCC and MSE) and, but for No FT,
on valence's CCC; none on valence's MSE.

Learns (SynthAffect validation, 3,515 frames of 8 unseen people, FACE = ALL there, seed 0, runs of 2026-12-04,
synthetic; CCC valence / arousal, MSE valence / arousal, mse_validation):

=================  ================  ================  ==============
row                CCC v / a         MSE v / a         mse_validation
=================  ================  ================  ==============
BDLSTM             0.140 / 0.560     0.201 / 0.123     0.162
BDLSTM No FT       -0.024 / 0.288    0.275 / 0.251     0.263
BDLSTM FT+No FT    -0.017 / 0.405    0.244 / 0.157     0.200
=================  ================  ================  ==============

As in the paper the No FT features alone are the weakest; unlike it, adding them to FT does not help here (the
paper: 0.098333 against 0.09842). Shuffled-label controls (the members of recipes/mmnet_p_ensemble.py's control
run, the same configurations): CCC -0.011 / -0.009, MSE 0.174 / 0.207 (BDLSTM); -0.019 / -0.008, 0.178 /
0.200 (No FT); -0.000 / -0.004, 0.249 / 0.201 (FT+No FT). Every row beats its control on arousal (CCC and
MSE); on valence none beats it by MSE (the controls predict near the mean: 0.174-0.249 against 0.201-0.275).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, TABLE3_ROWS, MMNetRecipe


@dataclasses.dataclass(frozen=True)
class MMNetFeaturesRecipe(MMNetRecipe):
    """Li 2017, Table 3: the BDLSTM C=250, L=11 on the features chosen by --row."""

    table = "Table 3, rows BDLSTM, BDLSTM No FT, BDLSTM FT+No FT"
    runtime = "35-42 s with the cached stages (about 17 min from nothing) on 2 CPU cores on SynthAffect"
    rows = {row: {"features": features} for row, features in TABLE3_ROWS.items()}

    def published_keys(self):
        return ((LI2017, "Table 3", next(row for row, f in TABLE3_ROWS.items() if f == self.features)),)


if __name__ == "__main__":
    main(MMNetFeaturesRecipe)
