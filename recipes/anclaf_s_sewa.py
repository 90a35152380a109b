"""ANCLaF-S-n (the sequence model on the frame model's latents) on SEWA DB with 5-fold cross-validation.

Paper:     Aspandi, Sukno, Schuller & Binefa 2021 (VISAPP 2021), sections 3.2-3.4, 4.
Table/row: Table 2, rows ANCLaF-S-2 .. ANCLaF-S-32 and ANCLaF-S-AVG (--row "ANCLaF-S-n").
Published: SEWA, 5-fold, labels in [-1, 1] (RMSE valence / arousal / AVG; COR ...; CCC ...):
           ANCLaF-S-2:   0.349 / 0.345 / 0.347; 0.533 / 0.396 / 0.464; 0.503 / 0.368 / 0.436
           ANCLaF-S-4:   0.344 / 0.336 / 0.340; 0.536 / 0.403 / 0.469; 0.510 / 0.382 / 0.446
           ANCLaF-S-8:   0.341 / 0.339 / 0.340; 0.538 / 0.404 / 0.471; 0.514 / 0.381 / 0.448
           ANCLaF-S-16:  0.354 / 0.344 / 0.349; 0.527 / 0.395 / 0.461; 0.490 / 0.369 / 0.429
           ANCLaF-S-32:  0.353 / 0.346 / 0.349; 0.527 / 0.396 / 0.461; 0.494 / 0.368 / 0.431
           ANCLaF-S-AVG: 0.348 / 0.342 / 0.345; 0.532 / 0.399 / 0.465; 0.502 / 0.374 / 0.438
Runtime:   not given by the paper. Here, with no arguments (ANCLaF-S-8, five folds, every stage from nothing:
           each fold's frame model and its S-2, S-4, S-8 curriculum): 13 min 54 s on 2 CPU cores beside the
           test suite (load 2-3, 2026-12-04).
Measured:  with no arguments, seed 0, synthetic, mean over the 5 folds (SEWA layout, labels in [-1, 1]): CCC
           valence 0.706, arousal 0.683 (PCC 0.773 / 0.741, RMSE 0.280 / 0.282), above the frame model alone
           (recipes/anclaf_sewa.py: CCC 0.430 / 0.374; its shuffled-label control -0.000 / 0.024), as Table 2
           puts ANCLaF-S above ANCLaF. Its shuffled-label control (--label-control shuffled: every stage on
           shuffled labels) stays at CCC 0.026 / 0.034 (PCC 0.100 / 0.088, RMSE 0.455 / 0.425), 21 min 37 s from
           nothing beside the test suite (load 3-4, 2026-12-04).
Command:   python recipes/anclaf_s_sewa.py --row ANCLaF-S-8             # 5 folds + mean, SynthAffect (SEWA layout)
           python recipes/anclaf_s_sewa.py --row ANCLaF-S-8 --data DIR  # the paper (`tfaffect prepare --dataset sewa`)

recipes/anclaf_s_afew_va.py's recipe (subclassed, its SynthAffect overlay unchanged and not re-measured on SEWA)
with recipes/anclaf_sewa.py's frame model, dataset (layout "sewa", scale 1) and Table 2's headline.
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.registry import find

AFEW_VA = find(str(Path(__file__).with_name("anclaf_s_afew_va.py")))
FRAME_RECIPE = find(str(Path(__file__).with_name("anclaf_sewa.py")))


@dataclasses.dataclass(frozen=True)
class AnclafSSewaRecipe(AFEW_VA):
    """ANCLaF-S-n on SEWA DB (Aspandi 2021, Table 2, rows ANCLaF-S-2 .. ANCLaF-S-32): --row "ANCLaF-S-n"."""

    frame_recipe_class = FRAME_RECIPE
    layout, label_scale, headline = FRAME_RECIPE.layout, FRAME_RECIPE.label_scale, FRAME_RECIPE.headline
    table = "Table 2, rows ANCLaF-S-2 .. ANCLaF-S-32"
    published_table = "Table 2"
    runtime = "not measured on SynthAffect's SEWA layout yet; the paper: 12 hours per model"


if __name__ == "__main__":
    main(AnclafSSewaRecipe)
