"""ANCLaF, the frame model (G, D and C trained adversarially), on AFEW-VA with 5-fold cross-validation.

Paper:     Aspandi, Sukno, Schuller & Binefa 2021, "An Enhanced Adversarial Network with Combined Latent Features
           for Spatio-Temporal Facial Affect Estimation in the Wild" (VISAPP 2021), sections 3.1, 3.3-3.4, 4.
Table/row: Table 1, "ANCLaF".
Published: AFEW-VA, 5-fold, [-10, 10] scale: RMSE valence 2.682, arousal 2.344, AVG 2.513; COR 0.306 / 0.399 /
           0.353; ICC 0.219 / 0.309 / 0.264.
Runtime:   not given by the paper (its sequence models took "around 12 hours" on a Titan X from latents, section
           3.4). Here, with no arguments: five folds of the SynthAffect demo budget below, DEMO_RUNTIME; --fold K
           one of them; --smoke: fold 0, two steps of a tiny model.
Command:   python recipes/anclaf_afew_va.py                         # 5 folds + mean, SynthAffect (AFEW-VA layout)
           python recipes/anclaf_afew_va.py --fold 2                # one fold
           python recipes/anclaf_afew_va.py --data DIR              # the paper (shards of `tfaffect prepare
                                                                    # --dataset afew_va`, splits fold0..fold4)

Every field cites the paper or the released code (tfaffect/training/anclaf.py, tfaffect/models/anclaf.py). The
folds: ``--data DIR`` takes AFEW-VA shards written without a ``fold`` importer option (splits ``fold0`` ..
``fold4``; subject-independent only with ``--importer-option subjects=FILE``, see recipes/affwildnet_afew_va.py);
on SynthAffect the folds keep each identity together.

With no --data the recipe runs on SynthAffect in the AFEW-VA layout, with the overlay below (each entry's reason
measured), recorded in the run's config.json (derived.deviations).
"""

import dataclasses

from tfaffect.launch import main
from tfaffect.training.anclaf import AnclafRecipe


@dataclasses.dataclass(frozen=True)
class AnclafAfewVaRecipe(AnclafRecipe):
    """ANCLaF on AFEW-VA, 5-fold cross-validation (Aspandi 2021, Table 1, row "ANCLaF")."""

    published_rows = (("aspandi2021", "Table 1", "ANCLaF"),)
    runtime = "DEMO_RUNTIME on SynthAffect (2 shared CPU cores); not given by the paper"
    synthaffect = {}


if __name__ == "__main__":
    main(AnclafAfewVaRecipe)
