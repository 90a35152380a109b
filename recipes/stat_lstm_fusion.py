"""Fusion of the STAT + LSTM models: the average of the members' outputs (Do 2020, Tables II and III).

Paper:     Do, Nguyen-Quynh & Kim 2020, "Affective Expression Analysis in-the-wild using Multi-Task
           Temporal Statistical Deep Learning Model" (FG 2020, ABAW), section III.D: "We used the
           average fusion" (released code: "fusion = average of model outputs", FORMATS.md).
Table/row: Table II, row "Fusion" (validation), the number ours is put beside; Table III, submission 4
           of both tracks (test set, whose labels are not public: not reproducible here).
Published: Table II Fusion (Aff-Wild2 validation): Acc. 0.534, F1 0.556, Expr. score 0.543; CCC arousal
           0.56, valence 0.495, VA score 0.527. Table III (test): track 1 submission 4: CCC arousal
           0.354, valence 0.386, VA score 0.37; track 2 submission 4: Acc. 0.565, F1 0.295, Expr.
           score 0.384.
Members:   which models the Fusion averages is not said; the track 1 submissions use models 2, 4 and 6
           (section III.D), the default here (--member-models). --members RUN RUN ... averages trained
           runs of recipes/stat_lstm.py instead (any Table I rows of one image size and window).
Runtime:   the fusion itself: one forward pass over the validation set (about a minute at 64 px).
           With no arguments it first trains models 2, 4 and 6 with the demo budget of
           recipes/stat_lstm.py on SynthAffect (each as long as that recipe's demo run, models 4 and
           6 from its face pretraining, image model 2 trained for 16 x 100 steps of 32 frames and cached
           under $TFAFFECT_CACHE/stat_lstm_face/, 17 min 47 s on 2 idle cores; model 6 with its 2 x BiLSTM
           1024 is the slowest member), cached under $TFAFFECT_CACHE/stat_lstm_members/ and reused by the next
           fusion run: 17 min 17 s on 2 CPU cores with that face pretraining already cached by a
           recipes/stat_lstm.py run (2026-12-05; members: model 2 79 s, model 4 2 min 20 s, model 6 8 min 1 s;
           the fusion itself 28 s). With --smoke (members 2 and 4 with their smoke budget, no
           face pretraining): 84 s measured (the registry smoke test, 2 cores at load 1-2), mostly
           building and saving the members' ResNet-50s; 4.7 min at load 8-10.
Measured:  with no arguments, seed 0, synthetic (SynthAffect validation, 3,515 frames of 8 unseen people),
           2026-12-05, members 4 and 6 from the face pretraining of 51,200 frames: CCC arousal 0.776, valence
           0.304 (MSE 0.083 / 0.184), VA score 0.540; accuracy 0.379, macro F1 0.268, expression score 0.305.
           Its members: model 2 CCC arousal 0.370, valence -0.257 (the row's own demo budget, 100 steps of 32
           frames: it does not carry valence over); model 4 0.728 / 0.393; model 6 0.821 / 0.496 (accuracy
           0.175, 0.378, 0.371). The average is below its best member on valence: model 2 pulls it down.
           Before (2026-12-04, face pretraining of 6,400 frames): CCC arousal 0.519, valence -0.124 (MSE 0.164 /
           0.529), accuracy 0.223, macro F1 0.121 (members' valence -0.256, -0.056, -0.057). Its shuffled-label
           control (--label-control shuffled: the members trained on shuffled labels, face pretraining of
           51,200 frames included), 2026-12-05 (beside the test suite, interrupted and resumed: its wall time
           says nothing): CCC arousal 0.087, valence -0.061 (MSE 0.182 / 0.187), accuracy 0.114, macro F1
           0.067 (its members: arousal 0.012-0.101, valence -0.141 to 0.069). The fusion beats it on every figure.
Command:   python recipes/stat_lstm_fusion.py                      # SynthAffect: train 2, 4, 6, then fuse
           python recipes/stat_lstm_fusion.py --members runs/stat_lstm/A runs/stat_lstm/B runs/stat_lstm/C
           python recipes/stat_lstm_fusion.py --data DIR --members RUN RUN RUN   # the paper's data

The members are frozen inside the fused model; the trainer's single step of the single epoch
trains nothing (it logs the losses), the result is the evaluation of the average on the whole
validation split. Members trained here get this recipe's values of the shared fields (image size,
window, clip, architecture, optimizer, --label-control), and their own row, batch and budget.
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses
from pathlib import Path

from tfaffect.training.registry import load_recipe_file
from tfaffect.training.stat_lstm import StatLSTMFusionRecipe

MEMBER_RECIPE = {cls.recipe_name(): cls
                 for cls in load_recipe_file(Path(__file__).with_name("stat_lstm.py"))}["stat_lstm"]
"""recipes/stat_lstm.py's recipe (Table II rows "model 1" .. "model 6"): it trains the members."""


@dataclasses.dataclass(frozen=True)
class StatLSTMFusion(StatLSTMFusionRecipe):
    """Do 2020, Table II "Fusion": the average of the outputs of Table I models (default 2, 4, 6)."""

    table = "Table II, row Fusion (Table III submissions 4: test set)"
    runtime = ("the members' demo runs (recipes/stat_lstm.py, models 2, 4, 6) plus one validation pass on "
               "SynthAffect; cached members are reused")
    synthaffect = {  # the members' SynthAffect settings (recipes/stat_lstm.py) but their training budget: the
                     # fusion trains nothing; evaluated in clips of the temporal members
        "image_size": 64, "trainable_stages": 5, "bn_momentum": 0.9, "max_validation_steps": 8,
        "feature_stats": (), "clip_length": 32, "batch_size": 2,
        "output_init": "zeros",  # passed to the members it trains: recipes/stat_lstm.py's overlay, where measured
    }
    member_recipe = MEMBER_RECIPE


if __name__ == "__main__":
    main(StatLSTMFusion)
