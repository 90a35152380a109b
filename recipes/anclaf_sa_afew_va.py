"""ANCLaF-SA-n: ANCLaF-S-n with attention over the previous n LSTM states [h; c], each from the trained S-n, AFEW-VA.

Paper:     Aspandi, Sukno, Schuller & Binefa 2021, "An Enhanced Adversarial Network with Combined Latent Features
           for Spatio-Temporal Facial Affect Estimation in the Wild" (VISAPP 2021), sections 3.2 (eq. 5-8), 3.4, 4.
Table/row: Table 1, rows "ANCLaF-SA-n", one per --row "ANCLaF-SA-2" .. "ANCLaF-SA-32" (default ANCLaF-SA-8, the
           paper's best row on AFEW-VA by RMSE AVG and ICC AVG), and "ANCLaF-SA-AVG" (--row "ANCLaF-SA-AVG": the
           mean of the five rows' scores, every n a cached stage).
Published: AFEW-VA, 5-fold, [-10, 10] scale (RMSE valence / arousal / AVG; COR ...; ICC ...):
           ANCLaF-SA-2:  2.540 / 2.241 / 2.390; 0.373 / 0.454 / 0.413; 0.291 / 0.353 / 0.322
           ANCLaF-SA-4:  2.586 / 2.260 / 2.423; 0.386 / 0.445 / 0.415; 0.302 / 0.342 / 0.322
           ANCLaF-SA-8:  2.481 / 2.239 / 2.360; 0.371 / 0.467 / 0.419; 0.294 / 0.367 / 0.331
           ANCLaF-SA-16: 2.601 / 2.225 / 2.413; 0.377 / 0.467 / 0.422; 0.294 / 0.363 / 0.328
           ANCLaF-SA-32: 2.581 / 2.256 / 2.419; 0.361 / 0.436 / 0.399; 0.270 / 0.332 / 0.301
           ANCLaF-SA-AVG: 2.558 / 2.244 / 2.401; 0.373 / 0.454 / 0.414; 0.290 / 0.352 / 0.321
Runtime:   the paper: about 12 hours per model on a GPU (section 3.4). Here: recipes/anclaf_s_afew_va.py's stages up
           to S-n (cached, shared with it), then SA-n, per fold (SA-4, fold 0: about 12 min from scratch on 2 shared
           CPU cores, S-4 and SA-4 about 2.5 min each with their evaluations); --smoke:
           fold 0, the row's n, tiny models, every row from the frame model (about 20 s).
Command:   python recipes/anclaf_sa_afew_va.py --row "ANCLaF-SA-8"    # 5 folds, SynthAffect (AFEW-VA layout)
           python recipes/anclaf_sa_afew_va.py --row "ANCLaF-SA-4" --fold 0 --data DIR

Learns, measured (--row "ANCLaF-SA-8", five folds, the mean over folds +- their std, seed 0, 2026-12-04, synthetic;
[-10, 10] scale; 4 min 26 s on 2 CPU cores with recipes/anclaf_s_afew_va.py's stages up to S-8 cached): PCC
valence 0.773 +- 0.075, arousal 0.741 +- 0.069; ICC 0.743 / 0.718; CCC 0.697 / 0.693; RMSE 2.854 / 2.790, above
S-8's (PCC 0.760 / 0.733, ICC 0.732 / 0.709, RMSE 2.948 / 2.865) on every fold, by a little, as in Table 1.

SA-n starts from the trained S-n (section 3.4: "we add our proposed attention mechanism to the pre-trained
ANCLaF-S models"): every layer copied, the LSTM's kernel rows of the context set to 0, so SA-n starts as S-n
(tfaffect.models.anclaf.attention_from_sequence). Everything else as recipes/anclaf_s_afew_va.py.

Attention weights as output (issue #17 item 8): each run writes image_model.keras (G and D of the fold's frame model
in front of the trained SA model, outputs "va" and "attention" [B, T, n]), which `tfaffect export --run-dir RUN`
exports (the SavedModel's "attention" key, described in metadata.json) and `tfaffect predict --model RUN` runs
(columns attention_n .. attention_1 per frame, attention_k the weight of frame t - k; attention.png); the
evaluation draws the first fold video's curves over the weights in plots/attention_<video>.png (Figures 3-4).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.recipe import hparam
from tfaffect.training.registry import find

SEQUENCE = find(str(Path(__file__).with_name("anclaf_s_afew_va.py")))
"""recipes/anclaf_s_afew_va.py's recipe: this one adds the attention (and keeps its SynthAffect demo)."""


@dataclasses.dataclass(frozen=True)
class AnclafSAAfewVaRecipe(SEQUENCE):
    """ANCLaF-SA-n on AFEW-VA (Aspandi 2021, Table 1, rows ANCLaF-SA-2 .. ANCLaF-SA-32): --row "ANCLaF-SA-n"."""

    table = "Table 1, rows ANCLaF-SA-2 .. ANCLaF-SA-32"
    runtime = "recipes/anclaf_s_afew_va.py's stages up to S-n, then SA-n (see the overlay); the paper: 12 hours"
    rows = {**{f"ANCLaF-SA-{n}": {"sequence_length": n} for n in (8, 2, 4, 16, 32)},  # section 3.2; SA-8 first
            "ANCLaF-SA-AVG": {"average": True}}  # Table 1: the mean of the five SA-n rows

    # SynthAffect: recipes/anclaf_s_afew_va.py's overlay. Measured on fold 0, seed 0 (whole fold, 2,809 frames):
    # SA-4 from S-4 PCC 0.824 / 0.609, ICC 0.816 / 0.598 (S-4: 0.807 / 0.594, 0.799 / 0.583), RMSE 3.66 / 5.82 on
    # [-10, 10]; SA-4's training 68 s after S-4's 84 s, each + about 1 min of evaluation (2 shared CPU cores).

    attention: bool = hparam(True, "ANCLaF-SA: attention over the previous n states [h; c] (eq. 5-8)")


if __name__ == "__main__":
    main(AnclafSAAfewVaRecipe)
