"""ANCLaF-SA-n (the sequence model with attention, on the frame model's latents) on SEWA DB with 5-fold cross-validation.

Paper:     Aspandi, Sukno, Schuller & Binefa 2021 (VISAPP 2021), sections 3.2-3.4, 4.
Table/row: Table 2, rows ANCLaF-SA-2 .. ANCLaF-SA-32 and ANCLaF-SA-AVG (--row "ANCLaF-SA-n").
Published: SEWA, 5-fold, labels in [-1, 1] (RMSE valence / arousal / AVG; COR ...; CCC ...):
           ANCLaF-SA-2:  0.343 / 0.333 / 0.338; 0.545 / 0.420 / 0.482; 0.509 / 0.390 / 0.449
           ANCLaF-SA-4:  0.336 / 0.328 / 0.332; 0.550 / 0.429 / 0.490; 0.526 / 0.399 / 0.463
           ANCLaF-SA-8:  0.336 / 0.332 / 0.334; 0.558 / 0.424 / 0.491; 0.529 / 0.405 / 0.467
           ANCLaF-SA-16: 0.334 / 0.331 / 0.332; 0.556 / 0.421 / 0.488; 0.528 / 0.393 / 0.461
           ANCLaF-SA-32: 0.336 / 0.362 / 0.349; 0.550 / 0.418 / 0.484; 0.513 / 0.389 / 0.451
           ANCLaF-SA-AVG: 0.337 / 0.337 / 0.337; 0.552 / 0.422 / 0.488; 0.521 / 0.395 / 0.458
Runtime:   not given by the paper. Here, with no arguments (ANCLaF-SA-8, five folds, every stage from nothing: each
           fold's frame model and its SA-2, SA-4, SA-8 curriculum): 21 min 9 s on 2 CPU cores beside the test suite
           (load 3-3.5, 2026-12-04).
Measured:  with no arguments, seed 0, synthetic, mean over the 5 folds (SEWA layout, labels in [-1, 1]): CCC
           valence 0.718, arousal 0.695 (PCC 0.787 / 0.759, RMSE 0.274 / 0.278; folds: CCC valence 0.585-0.892,
           arousal 0.572-0.782), a little above ANCLaF-S-8 there (recipes/anclaf_s_sewa.py: 0.706 / 0.683; its
           shuffled-label control 0.026 / 0.034), as Table 2 puts SA above S. Its own shuffled-label control
           (--label-control shuffled, every stage on shuffled labels; the folds' frame models, latents and first
           curriculum stages cached from anclaf_s_sewa's control, 6 min 23 s, 2026-12-04): CCC valence 0.075, arousal
           -0.024 (PCC 0.147 / 0.000).
Command:   python recipes/anclaf_sa_sewa.py --row ANCLaF-SA-8             # 5 folds + mean, SynthAffect (SEWA layout)
           python recipes/anclaf_sa_sewa.py --row ANCLaF-SA-8 --data DIR  # the paper (`tfaffect prepare --dataset sewa`)

recipes/anclaf_sa_afew_va.py's recipe (subclassed, its SynthAffect overlay unchanged and not re-measured on SEWA)
with recipes/anclaf_sewa.py's frame model, dataset (layout "sewa", scale 1) and Table 2's headline.
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.registry import find

AFEW_VA = find(str(Path(__file__).with_name("anclaf_sa_afew_va.py")))
FRAME_RECIPE = find(str(Path(__file__).with_name("anclaf_sewa.py")))


@dataclasses.dataclass(frozen=True)
class AnclafSASewaRecipe(AFEW_VA):
    """ANCLaF-SA-n on SEWA DB (Aspandi 2021, Table 2, rows ANCLaF-SA-2 .. ANCLaF-SA-32): --row "ANCLaF-SA-n"."""

    frame_recipe_class = FRAME_RECIPE
    layout, label_scale, headline = FRAME_RECIPE.layout, FRAME_RECIPE.label_scale, FRAME_RECIPE.headline
    table = "Table 2, rows ANCLaF-SA-2 .. ANCLaF-SA-32"
    published_table = "Table 2"
    runtime = "not measured on SynthAffect's SEWA layout yet; the paper: 12 hours per model"


if __name__ == "__main__":
    main(AnclafSASewaRecipe)
