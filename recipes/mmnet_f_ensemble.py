"""MM-Net's final ensemble: the mean of the chosen memory networks and both feature-level MLPs.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.2.5, 3.3.
Table/row: Table 8, rows F. Ensemble-FACE (headline) and F. Ensemble-ALL (metrics.json's all_* scores).
Published: Aff-Wild validation (38 videos), MSE valence / arousal, CCC valence / arousal:
           FACE 0.106630 / 0.084108, 0.149588 / 0.203219;  ALL 0.112930 / 0.084873, 0.171364 / 0.210785.
Runtime:   the paper: not given (GPU). Here, on 2 CPU cores (load average 1-2), measured 2026-12-04 on SynthAffect:
           7 min 10 s with the CNN stages and feature caches cached (recipes/mmnet_bdlstm.py's run, 6 min 17 s from
           nothing): the 7 members 23-44 s each, MLP1 and MLP2 about 70 s each; 11 s once they are all cached. Its
           shuffled-label control, every stage trained from nothing (SynthAffect prepared), took 14 min 26 s at
           load average 2-3.
Command:   python recipes/mmnet_f_ensemble.py                  # SynthAffect, demo budget
           python recipes/mmnet_f_ensemble.py --data DIR       # the paper's budget (GPU)

"A prediction level ensemble is performed for all the models in Section 3.2.4 and the two regression models
above" (section 3.2.5): the members recipes/mmnet_p_ensemble.py averages (validation MSE below 0.1; all
when none is, as on SynthAffect) and the MLP1 and MLP2 of recipes/mmnet_mlp.py, each a cached stage
($TFAFFECT_CACHE/mmnet_bdlstm/, mmnet_ensemble/), averaged frame by frame (tfaffect/training/mmnet.py,
MMNetEnsembleRecipe). The SynthAffect overlay is every MM-Net recipe's (MMNetRecipe.synthaffect).

Re-measured 2026-12-05 with the CNN stages trained 1,600 steps of 32 faces each (the overlay, was 320:
tfaffect/training/mmnet.py; seed 0, synthetic, 2 idle cores; the figures below this paragraph are those of 320
steps, 2026-12-04): the 7 memory networks and both MLPs averaged: CCC valence 0.167, arousal 0.743; MSE 0.231 /
0.071 (mean 0.151), against the best member's (FT C=250, L=11) 0.198 / 0.721, MSE 0.211 / 0.070 (mean 0.140). Its
shuffled-label control (every stage on shuffled labels; 5 min 3 s with its CNN stages cached): CCC -0.001 / -0.002,
MSE 0.174 / 0.194: beaten on both CCCs and arousal's MSE.

Learns, but does not beat its best member (SynthAffect validation, 3,515 frames of 8 unseen people, FACE = ALL
there, seed 0, run of 2026-12-04, synthetic): the 7 memory networks (no validation MSE below 0.1: all) and both MLPs
averaged, CCC valence 0.094, arousal 0.523; MSE 0.221 / 0.127 (mean 0.174), against the best member's (FT C=50,
L=11) 0.126 / 0.581, MSE 0.201 / 0.109 (mean 0.155); the members' table is in recipes/mmnet_p_ensemble.py, MLP1 and
MLP2 in recipes/mmnet_mlp.py. The shuffled-label control (every stage on shuffled labels): CCC -0.004 / -0.003, MSE
0.178 / 0.198 (mean 0.188): beaten on arousal (CCC +0.526, MSE -0.071) and the mean MSE, not on valence's MSE (0.221
against 0.178).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, MMNetEnsembleRecipe


@dataclasses.dataclass(frozen=True)
class MMNetFinalEnsembleRecipe(MMNetEnsembleRecipe):
    """Li 2017, Table 8: the mean of the chosen memory networks' and both MLPs' predictions."""

    table = "Table 8, F. Ensemble-FACE and F. Ensemble-ALL"
    runtime = "5 min 33 s with the cached CNN stages (16.5 min more from nothing) on 2 CPU cores on SynthAffect"
    ensemble = "final"
    published_rows = ((LI2017, "Table 8", "F. Ensemble-FACE"), (LI2017, "Table 8", "F. Ensemble-ALL"))


if __name__ == "__main__":
    main(MMNetFinalEnsembleRecipe)
