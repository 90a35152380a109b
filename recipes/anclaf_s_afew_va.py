"""ANCLaF-S-n: LSTM sequence models on the cached ZQ latents, a curriculum n = 2, 4, 8, 16, 32, on AFEW-VA (5-fold).

Paper:     Aspandi, Sukno, Schuller & Binefa 2021, "An Enhanced Adversarial Network with Combined Latent Features
           for Spatio-Temporal Facial Affect Estimation in the Wild" (VISAPP 2021), sections 3.2, 3.4, 4.
Table/row: Table 1, rows "ANCLaF-S-n", one per --row "ANCLaF-S-2" .. "ANCLaF-S-32" (default ANCLaF-S-8, the
           paper's best ANCLaF-S row), and "ANCLaF-S-AVG" (--row "ANCLaF-S-AVG": the mean of the five rows' scores,
           every n a cached stage; its value per n is in its metrics.json).
Published: AFEW-VA, 5-fold, [-10, 10] scale (RMSE valence / arousal / AVG; COR ...; ICC ...):
           ANCLaF-S-2:  2.675 / 2.295 / 2.485; 0.314 / 0.410 / 0.362; 0.236 / 0.296 / 0.266
           ANCLaF-S-4:  2.654 / 2.279 / 2.467; 0.303 / 0.420 / 0.361; 0.224 / 0.307 / 0.266
           ANCLaF-S-8:  2.595 / 2.202 / 2.398; 0.328 / 0.425 / 0.377; 0.272 / 0.344 / 0.308
           ANCLaF-S-16: 2.617 / 2.292 / 2.454; 0.302 / 0.401 / 0.351; 0.224 / 0.299 / 0.261
           ANCLaF-S-32: 2.568 / 2.328 / 2.448; 0.288 / 0.405 / 0.346; 0.214 / 0.304 / 0.259
           ANCLaF-S-AVG: 2.622 / 2.279 / 2.450; 0.307 / 0.412 / 0.360; 0.234 / 0.310 / 0.272
Runtime:   the paper: "around 12 hours" per model from latents on a Titan X (section 3.4). Here, per fold, on 2 CPU
           cores shared under load: the frame model of recipes/anclaf_afew_va.py (a cached stage, 102 s training
           + evaluation), the ZQ extraction of all 14,632 frames (cached; 3 min, 941 MB at 64 px: 16 x 16 x 65
           floats a frame), then each curriculum stage up to n (cached): S-2 57 s, S-4 58 s (training at 317-654
           frames/s from ZQ, against 29 frames/s for the frame model from images), each + about 1 min of
           evaluation; about 10 min for --row ANCLaF-S-4 --fold 0 from scratch, five folds about five times that;
           --smoke: fold 0, the row's n, tiny models, every row from the frame model (about 20 s).
Command:   python recipes/anclaf_s_afew_va.py --row "ANCLaF-S-8"     # 5 folds, SynthAffect (AFEW-VA layout)
           python recipes/anclaf_s_afew_va.py --row "ANCLaF-S-8" --fold 0 --data DIR   # one fold of the paper

Learns, measured (--row "ANCLaF-S-8", five folds, the mean over folds +- their std, seed 0, 2026-12-04, synthetic;
[-10, 10] scale; 10 min 46 s from nothing on 2 CPU cores, load 2-3: per fold the frame model, its ZQ, S-2, S-4 and
S-8): PCC valence 0.760 +- 0.078, arousal 0.733 +- 0.069; ICC 0.732 / 0.709; CCC 0.680 / 0.680; RMSE 2.948 /
2.865. The frame model alone (recipes/anclaf_afew_va.py, its own run of the same folds): PCC 0.541 / 0.491, ICC 0.406 /
0.378; its shuffled-label control PCC -0.146 / -0.108, ICC -0.042 / -0.032. The sequence model beats its frame
model on every fold, as in Table 1 (there by less: COR 0.377 against 0.353 AVG).

Each stage of the curriculum is a runner stage cached under $TFAFFECT_CACHE: the fold's frame model
(anclaf_frame/), its ZQ per frame (anclaf_features/), S-2 (from the frame model's C encoder), S-4 from S-2, S-8
from S-4 ... (anclaf_sequence/); a second row reuses the stages it shares. On SynthAffect the frame model has
recipes/anclaf_afew_va.py's overlay; this recipe's own overlay is below, each entry with its measured reason.
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.anclaf import ASPANDI2021, AnclafSequenceRecipe
from tfaffect.training.registry import find

FRAME_RECIPE = find(str(Path(__file__).with_name("anclaf_afew_va.py")))
"""recipes/anclaf_afew_va.py's recipe: the fold's frame model whose ZQ latents the sequence models read."""

LENGTHS = (8, 2, 4, 16, 32)  # section 3.2: N = {2, 4, 8, 16, 32}; the best row (S-8) first, the default


@dataclasses.dataclass(frozen=True)
class AnclafSAfewVaRecipe(AnclafSequenceRecipe):
    """ANCLaF-S-n on AFEW-VA (Aspandi 2021, Table 1, rows ANCLaF-S-2 .. ANCLaF-S-32): --row "ANCLaF-S-n"."""

    frame_recipe_class = FRAME_RECIPE
    table = "Table 1, rows ANCLaF-S-2 .. ANCLaF-S-32"
    published_table = "Table 1"  # the paper's table of the published_keys (recipes/anclaf_s_sewa.py: Table 2)
    runtime = "about 2 min per fold up to S-8 on SynthAffect (2 CPU cores; 11 min for five); the paper: 12 hours"
    rows = {**{f"ANCLaF-S-{n}": {"sequence_length": n} for n in LENGTHS}, "ANCLaF-S-AVG": {"average": True}}
    synthaffect = {  # measured on fold 0, seed 0 (whole fold, 2,809 frames; frame model: PCC 0.707 / 0.551, ICC
                     # 0.509 / 0.494): S-2 PCC 0.781 / 0.590, ICC 0.746 / 0.590; S-4 (from S-2) PCC 0.807 / 0.594,
                     # ICC 0.799 / 0.583 (its RMSE arousal 5.80 on [-10, 10] against 3.84 for S-2: an offset);
                     # S-2 with --label-control shuffled (its frame stage shuffled too): PCC 0.034 / -0.147, ICC
                     # 0.003 / -0.009
        "image_size": 64, "d_dim": 8, "c_dim": 16,  # the frame model's overlay (recipes/anclaf_afew_va.py, measured
                                                    # there): the same architecture reads the cached ZQ
        "batch_size": 256, "epochs": 3, "max_steps_per_epoch": 25,  # 75 steps of 256 frames (32 clips of 8 for S-8,
                                                                    # 128 of 2 for S-2): the in-training validation
                                                                    # CCC of S-2 rose from 0.11 / 0.15 to 0.73 / 0.80
        "max_validation_steps": 4,  # in-training validation on 4 batches; the whole fold once at the end
    }

    def published_keys(self):
        if self.fold is not None:
            return ()
        n = "AVG" if self.average else self.sequence_length
        return ((ASPANDI2021, self.published_table, f"ANCLaF-{'SA' if self.attention else 'S'}-{n}"),)

    def smoke_overrides(self):
        # the smoke run starts every row from the frame model: no chain of curriculum stages to train first
        # (tests/training/test_learning_anclaf.py checks the chain)
        return {**super().smoke_overrides(), "curriculum": False, "batch_size": 2 * self.sequence_length}


if __name__ == "__main__":
    main(AnclafSAfewVaRecipe)
