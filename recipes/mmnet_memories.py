"""MM-Net's multiple memory networks: BDLSTMs of C cells over windows of L frames on the fine-tuned CNN's features.

Paper:     Li, Chen, Xiao, Zhao, Roy, Feng, Yan & Sim 2017, "Estimation of Affective Level in the Wild With
           Multiple Memory Networks" (CVPR 2017 workshops, Aff-Wild challenge), sections 3.1.2, 3.2.3.
Table/row: Table 5, one row per memory network: --row "C=250, L=11" (default; also Table 3's row
           BDLSTM), "C=50, L=11", "C=50, L=5", "C=25, L=5", "C=16, L=5".
Published: Aff-Wild validation (38 videos), MSE = the mean of the valence and arousal MSEs, FACE frames,
           train / validation: C=250, L=11 0.03423 / 0.09842; C=50, L=11 0.03003 / 0.096982;
           C=50, L=5 0.02732 / 0.101284; C=25, L=5 0.03559 / 0.0964594; C=16, L=5 0.04305 / 0.098990.
Runtime:   the paper: not given (GPU). Here the stages of recipes/mmnet_bdlstm.py (shared with it through
           the stage cache: the same CNN stages and FT feature cache) and one BDLSTM of about 40 s on
           SynthAffect with the same demo overlay (not measured separately for each row).
Command:   python recipes/mmnet_memories.py --row "C=25, L=5"              # SynthAffect, demo budget
           python recipes/mmnet_memories.py --row "C=25, L=5" --data DIR   # the paper's budget (GPU)

Everything but C and L as recipes/mmnet_bdlstm.py (tfaffect/training/mmnet.py), on the FT features only
(section 3.2.3: "the same set of 512 dimensional features extracted from the base CNN model"); training
stride S = L // 2 (5 or 2, section 3.1.2). The SynthAffect overlay is that recipe's, with the same measured
reasons; the demo does not learn on unseen people there (its docstring).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.mmnet import LI2017, TABLE5_MEMORIES, MMNetRecipe


@dataclasses.dataclass(frozen=True)
class MMNetMemoriesRecipe(MMNetRecipe):
    """Li 2017, Table 5: the BDLSTM with C cells and windows of L chosen by --row."""

    table = "Table 5, rows C=250, L=11 .. C=16, L=5"
    runtime = "the mmnet_bdlstm stages plus about 40 s on 2 shared CPU cores on SynthAffect (demo budget)"
    rows = {f"C={c}, L={length}": {"memory": c, "window": length} for c, length in TABLE5_MEMORIES}
    # SynthAffect overlay: MMNetRecipe.synthaffect (tfaffect/training/mmnet.py), as recipes/mmnet_bdlstm.py's

    def smoke_overrides(self):
        # a row's C and L stay as Table 5 has them (a smoke run of 40-frame videos holds windows of 11)
        return {k: v for k, v in super().smoke_overrides().items() if k not in ("memory", "window")}

    def published_keys(self):
        return ((LI2017, "Table 5", f"BDLSTM C={self.memory}, L={self.window}"),)


if __name__ == "__main__":
    main(MMNetMemoriesRecipe)
