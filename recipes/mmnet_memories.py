"""MM-Net's multiple memory networks: BDLSTMs of C cells over windows of L frames on the fine-tuned CNN's features.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.1.2, 3.2.3.
Table/row: Table 5, one row per memory network: --row "C=250, L=11" (default; also Table 3's row
           BDLSTM), "C=50, L=11", "C=50, L=5", "C=25, L=5", "C=16, L=5".
Published: Aff-Wild validation (38 videos), MSE = the mean of the valence and arousal MSEs, FACE frames,
           train / validation: C=250, L=11 0.03423 / 0.09842; C=50, L=11 0.03003 / 0.096982;
           C=50, L=5 0.02732 / 0.101284; C=25, L=5 0.03559 / 0.0964594; C=16, L=5 0.04305 / 0.098990.
Runtime:   the paper: not given (GPU). Here the stages of recipes/mmnet_bdlstm.py (shared with it through
           the stage cache: the same CNN stages and FT feature cache; 5.5 min from nothing) and one BDLSTM of
           23-44 s training on SynthAffect with the same overlay (measured 2026-12-04 at load average 1-2 as the
           members of recipes/mmnet_f_ensemble.py: the same configurations).
Command:   python recipes/mmnet_memories.py --row "C=25, L=5"              # SynthAffect, demo budget
           python recipes/mmnet_memories.py --row "C=25, L=5" --data DIR   # the paper's budget (GPU)

Everything but C and L as recipes/mmnet_bdlstm.py (tfaffect/training/mmnet.py), on the FT features only
(section 3.2.3: "the same set of 512 dimensional features extracted from the base CNN model"); training
stride S = L // 2 (5 or 2, section 3.1.2). The SynthAffect overlay is every MM-Net recipe's (MMNetRecipe.synthaffect),
with the measured reasons there.

Re-measured 2026-12-05 with the CNN stages trained 1,600 steps of 32 faces each (the overlay, was 320:
tfaffect/training/mmnet.py; seed 0, synthetic, 2 idle cores; the figures below this paragraph are those of 320
steps, 2026-12-04): CCC valence / arousal, MSE valence / arousal, mse_validation: C=250, L=11 0.198 / 0.721, 0.211
/ 0.070, 0.140; C=50, L=11 0.185 / 0.710, 0.217 / 0.080, 0.148; C=50, L=5 0.121 / 0.685, 0.306 / 0.086, 0.196;
C=25, L=5 0.159 / 0.802, 0.298 / 0.054, 0.176; C=16, L=5 0.214 / 0.748, 0.272 / 0.069, 0.170. Their shuffled-label
controls: CCC -0.004 to 0.004 / -0.005 to 0.000, MSE 0.172-0.173 / 0.199-0.204: every row beats its control on
arousal and on valence's CCC, not on valence's MSE.

Learns arousal, valence weakly (SynthAffect validation, 3,515 frames of 8 unseen people, FACE = ALL there, seed
0, runs of 2026-12-04 as the members of recipes/mmnet_p_ensemble.py, synthetic): CCC valence / arousal, MSE
valence / arousal: C=250, L=11 0.140 / 0.560, 0.201 / 0.123; C=50, L=11 0.126 / 0.581, 0.201 / 0.109; C=50, L=5
0.128 / 0.571, 0.239 / 0.115; C=25, L=5 0.094 / 0.557, 0.266 / 0.113; C=16, L=5 0.124 / 0.536, 0.253 / 0.126.
Their shuffled-label controls: CCC -0.011 to -0.001 / -0.009 to -0.001, MSE 0.173-0.174 / 0.199-0.207: every row
beats its control on arousal (CCC and MSE), on valence by CCC only (the controls' valence MSE is lower).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, TABLE5_MEMORIES, MMNetRecipe


@dataclasses.dataclass(frozen=True)
class MMNetMemoriesRecipe(MMNetRecipe):
    """Li 2017, Table 5: the BDLSTM with C cells and windows of L chosen by --row."""

    table = "Table 5, rows C=250, L=11 .. C=16, L=5"
    runtime = "the mmnet_bdlstm stages (about 17 min from nothing) plus 23-35 s on 2 CPU cores on SynthAffect"
    rows = {f"C={c}, L={length}": {"memory": c, "window": length} for c, length in TABLE5_MEMORIES}
    # SynthAffect overlay: MMNetRecipe.synthaffect (tfaffect/training/mmnet.py), as recipes/mmnet_bdlstm.py's

    def smoke_overrides(self):
        # a row's C and L stay as Table 5 has them (a smoke run of 40-frame videos holds windows of 11)
        return {k: v for k, v in super().smoke_overrides().items() if k not in ("memory", "window")}

    def published_keys(self):
        return ((LI2017, "Table 5", f"BDLSTM C={self.memory}, L={self.window}"),)


if __name__ == "__main__":
    main(MMNetMemoriesRecipe)
