"""The STAT + LSTM multi-task family: the six derivation models of Table I, one --row each (Table II).

Paper:     Do, Nguyen-Quynh & Kim 2020, "Affective Expression Analysis in-the-wild using Multi-Task
           Temporal Statistical Deep Learning Model" (FG 2020, ABAW), sections II-III.
Table/row: Table II, one row per Table I model: --row "model 1" .. "model 6". The default is model 4
           (Emotion VA Frame: STAT + multi-task, the paper's best VA score on validation); the other
           rows follow in Table I order. The Fusion row (average of the models' outputs) is not a recipe.
Published: Aff-Wild2 validation (Acc. / F1 / Expr. score; CCC arousal / valence / VA score):
           model 1: 0.408 / 0.417 / 0.409;        model 2: 0.493 / 0.512 / 0.501; 0.484 / 0.484 / 0.484
           model 3: 0.401 / 0.414 / 0.405;        model 4: 0.479 / 0.507 / 0.492; 0.564 / 0.504 / 0.534
           model 5: 0.4 / 0.405 / 0.399 (printed as row "3");
                                                  model 6: 0.428 / 0.441 / 0.432; 0.57 / 0.458 / 0.514
Runtime:   the paper: not given (GPU, 720k training frames at 224 px). Here, with no arguments, on 2 CPU
           cores: the demo budget of StatLSTMRecipe.synthetic_overrides (4 epochs x 25 steps at 64 px):
           model 4 took 5 min 20 s with SynthAffect already cached (generation + preparation add about
           1 min on the first run; measured on 2 cores shared with other work); with --smoke under a
           minute. Models 5-6 (BiLSTM 1024) cost more per step (not measured).
Status:    in that demo budget model 4 does NOT learn yet: from the second epoch its valence/arousal
           outputs collapse to constants near +-0.95 (training CCC 0, va_loss pinned at w2 + w3 = 0.8)
           and the validation expression score falls to 0.002 (run of 2026-11-23, see the closing note).
Command:   python recipes/stat_lstm.py --row "model 4"                     # SynthAffect, demo budget
           python recipes/stat_lstm.py --row "model 6" --data DIR --face-weights FILE.h5   # the paper

Fixed by the paper and cited on the fields (tfaffect/training/stat_lstm.py): Table I models, window
16, 224x224, Adam (or SGD) at 1e-4, loss weights of eq. 4, balanced expression sampling and online
augmentation, the metrics of eqs. 5-7. Left open by the paper and stated on the fields: batch size,
epochs, which augmentations, the optimizer per row, the clip length the temporal models train on.

With no --data the recipe runs on SynthAffect (synthetic, labelled so everywhere) from random
initialisation with these deviations, recorded in the run's config.json (derived.deviations): image
size 64 instead of 224 (ResNet-50 at 224 px on 2 CPU cores is too slow for a demo), the whole
ResNet-50 trainable (frozen random stages would never learn), and the demo budget.
"""

import dataclasses

from tfaffect.models.stat_lstm import TABLE_I
from tfaffect.training.stat_lstm import StatLSTMRecipe

DEFAULT_MODEL = 4  # Table II: best VA score on validation (0.534); the multi-task flagship


@dataclasses.dataclass(frozen=True)
class StatLSTMTableRecipe(StatLSTMRecipe):
    """Do 2020, Table II: the Table I model chosen by --row "model N" (default model 4)."""

    name = "stat_lstm"
    table = "Table II, rows 1-6 (Table I models)"
    runtime = "about 10 min on 2 CPU cores on SynthAffect (demo budget); the paper's run needs a GPU"
    rows = {f"model {number}": {"model": number}
            for number in (DEFAULT_MODEL, *(n for n in TABLE_I if n != DEFAULT_MODEL))}  # Table I


if __name__ == "__main__":
    StatLSTMTableRecipe.main()
