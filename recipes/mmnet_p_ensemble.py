"""MM-Net's prediction-level ensemble: the mean of the memory networks with a validation MSE below 0.1.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 2, 3.2.4.
Table/row: Table 6, rows P. Ensemble-FACE (headline) and P. Ensemble-ALL (metrics.json's all_* scores).
Published: Aff-Wild validation (38 videos), MSE valence / arousal, CCC valence / arousal:
           FACE 0.106248 / 0.085021, 0.135649 / 0.179434;  ALL 0.112563 / 0.085950, 0.160917 / 0.186296.
Runtime:   RUNTIME_PENS
Command:   python recipes/mmnet_p_ensemble.py                  # SynthAffect, demo budget
           python recipes/mmnet_p_ensemble.py --data DIR       # the paper's budget (GPU)

The members (tfaffect/training/mmnet.py, MMNetEnsembleRecipe): "the various models above" (section 3.2.4), Table
3's three BDLSTMs (C = 250, L = 11 on FT, No FT, FT + No FT) and Table 5's other four (C, L = 50, 11; 50, 5; 25, 5;
16, 5 on FT), each a cached stage ($TFAFFECT_CACHE/mmnet_bdlstm/) on the shared CNN stages and feature caches. Those
whose validation MSE (the mean of valence's and arousal's) is below 0.1 are averaged frame by frame; when none is
(on SynthAffect, where the annotations spread wider than Aff-Wild's, every member's MSE is above it), all of them,
said in the summary and in metrics.json ("selection"), with each member's scores beside the ensemble's. The
selection reads the same validation split the ensemble is scored on, as the paper's. The SynthAffect overlay is
every MM-Net recipe's (MMNetRecipe.synthaffect).

LEARNS_PENS
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, MMNetEnsembleRecipe


@dataclasses.dataclass(frozen=True)
class MMNetPredictionEnsembleRecipe(MMNetEnsembleRecipe):
    """Li 2017, Table 6: the mean of the memory networks' predictions (validation MSE below 0.1)."""

    table = "Table 6, P. Ensemble-FACE and P. Ensemble-ALL"
    runtime = "RUNTIME_PENS"
    ensemble = "prediction"
    published_rows = ((LI2017, "Table 6", "P. Ensemble-FACE"),)


if __name__ == "__main__":
    main(MMNetPredictionEnsembleRecipe)
