"""MM-Net's baseline CNN: CRU-Net-56-tiny fine-tuned for valence and arousal, scored alone.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.1.2, 3.2.1.
Table/row: Table 2, row CNN: the fine-tuned CRU-Net-56-tiny tested directly, frame by frame.
Published: Aff-Wild, MSE = the mean of the valence and arousal MSEs, FACE frames: training 0.0218, validation
           0.1067 (38 videos).
Runtime:   the paper: not given (GPU). Here, on 2 CPU cores (load average ~2), measured 2026-12-04 on SynthAffect:
           9 s with the CNN stages cached (by recipes/mmnet_bdlstm.py's run or any MM-Net recipe's); from nothing
           about 5 min (SynthAffect prepared at 48 px, expression pre-training 2 min, fine-tuning 2 min 10 s).
Command:   python recipes/mmnet_cnn.py                    # SynthAffect, demo budget
           python recipes/mmnet_cnn.py --data DIR         # the paper's budget (GPU)

Nothing of its own trains: its stage is the fine-tuned CNN every MM-Net memory network reads its "FT" features
from (tfaffect/training/mmnet.py, MMNetEnsembleRecipe with ensemble "cnn"): CRU-Net-56-tiny pre-trained for 7
expressions, then fine-tuned for valence and arousal 20 epochs at 1e-3 x10, 1e-4 x5, 1e-5 x3, 1e-6 x2 (section
3.1.2), cached in $TFAFFECT_CACHE/mmnet_cnn/ and shared with recipes/mmnet_bdlstm.py and the others. This recipe
scores that CNN's centre-crop predictions of every validation frame, FACE and ALL (metrics.json: ``mse_validation``
is Table 2's column, the mean of the two MSEs; the training MSE is not computed). The SynthAffect overlay is every
MM-Net recipe's (MMNetRecipe.synthaffect).

Re-measured 2026-12-05 with the CNN stages trained 1,600 steps of 32 faces each (the overlay, was 320:
tfaffect/training/mmnet.py; seed 0, synthetic, 2 idle cores; the figures below this paragraph are those of 320
steps, 2026-12-04): CCC valence 0.187, arousal 0.762; MSE 0.200 / 0.073 (mse_validation 0.137). Its shuffled-label
control: CCC 0.009 / -0.048, MSE 0.195 / 0.198 (0.196): beaten on both CCCs and arousal's MSE, not valence's MSE.
From nothing 16 min 32 s (pre-training 7 min 57 s, fine-tuning 7 min 20 s).

Learns (SynthAffect validation, 3,515 frames of 8 unseen people, FACE = ALL there, seed 0, run of 2026-12-04,
synthetic): CCC valence 0.108, arousal 0.429; MSE 0.246 / 0.191 (mse_validation 0.218). Its shuffled-label
control (--label-control shuffled: both CNN stages retrained on shuffled labels): CCC -0.009 / -0.008, MSE
0.216 / 0.255 (0.236): the CNN beats it on arousal (CCC +0.437, MSE -0.064), not on valence (its MSE 0.030
higher: its valence predictions vary without following the annotation much).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, MMNetEnsembleRecipe


@dataclasses.dataclass(frozen=True)
class MMNetCNNTableRecipe(MMNetEnsembleRecipe):
    """Li 2017, Table 2: the fine-tuned CRU-Net-56-tiny alone (the memory networks' FT feature stage)."""

    table = "Table 2, row CNN"
    runtime = "8 s with the cached CNN stages (16 min 32 s from nothing) on 2 CPU cores on SynthAffect"
    ensemble = "cnn"
    published_rows = ((LI2017, "Table 2", "CNN"),)


if __name__ == "__main__":
    main(MMNetCNNTableRecipe)
