"""Learning test of the Do 2020 (STAT + LSTM) family: a small configuration of the default row (model 4, its
face model pretrained first as image model 2) trains for about a minute on a SynthAffect subset and must
beat its shuffled-label control by a margin measured beforehand (DESIGN.md rule 7; the Kollias family's
test is tests/training/test_learning.py, whose subset this one shares).
"""

import json

import keras

from tfaffect.training import runner
from tfaffect.training.stat_lstm import StatLSTMRecipe

def do_family(data, **fields):
    """Model 4 as the SynthAffect default of recipes/stat_lstm.py (face model pretrained as image model 2 with
    the whole ResNet-50 trainable, then model 4 with the paper's frozen stages, batch-norm momentum 0.9, STAT
    of the scores, Adam 1e-4), at 32 px with windows of 4 in clips of 8, heads of 64 units and a one-minute
    budget. One difference: the output layers keep Keras's initialisation (the field's default), not the
    default run's zero output kernel (``output_init="zeros"``), which learns too slowly for this budget (the face
    model's training VA score 0.094 against 0.554, measured once, seed 0)."""
    return StatLSTMRecipe(data=str(data), model=4, image_size=32, window=4, clip_length=8, head_units=(64,),
                          bn_momentum=0.9, feature_stats=(), face_pretrain=2, batch_size=8, epochs=EPOCHS,
                          max_steps_per_epoch=STEPS, max_validation_steps=4, **fields)


EPOCHS, STEPS = 2, 15


def run(recipe, run_dir):
    """``(model 4's metrics.json, its face pretraining's metrics.json)`` after training ``recipe``."""
    keras.backend.clear_session()
    runner.run(recipe, run_dir)
    face = recipe.stage_dir("face")
    return (json.loads((run_dir / "metrics.json").read_text()),
            json.loads((face / "metrics.json").read_text()))


def test_stat_lstm_beats_its_shuffled_label_control(learning_subset):
    """Measured with this configuration (seed 0, 2 CPU cores at load average ~4, 3 min 06 s for the whole
    test including the subset; issue #10 item 5). "train" = the last epoch's training metrics, "val" =
    the 4 unseen people:

    ======================  =============  ===============  ===============  ====================
    run                     train VA score  train accuracy   train expr. score  val CCC valence
    ======================  =============  ===============  ===============  ====================
    face model (image 2)    0.554          0.389            0.385              0.309
    its control             0.001          0.134            0.123              -0.003
    model 4                 0.252          0.287            0.273              -0.000 (arousal 0.130)
    its control             0.008          0.155            0.152              -0.075 (arousal -0.000)
    ======================  =============  ===============  ===============  ====================

    On unseen people model 4 does not beat its control in this one-minute budget (its valence head saturates;
    the default run learns on unseen people after a face pretraining of 51,200 frames, 18 min: recipes/stat_lstm.py),
    so the bounds guard what the family learns in a minute: the image-label pairing of both stages (fitting the
    training labels) and the face model's valence on unseen people. Each margin is half the measured one (one seed): face model VA score +0.25 (measured
    0.553), accuracy +0.12 (0.254), validation valence +0.15 (0.312); model 4 VA score +0.12 (0.244),
    expression score +0.06 (0.121); the controls' training VA scores within +-0.1 of 0. Checked to fail
    on a deliberately broken label feed: with the task base's datasets() pairing the learner's images with
    the independent label stream too (the control's feed, edited locally, not committed), the first
    assertion failed.
    """
    root, data = learning_subset
    learned, learned_face = run(do_family(data, seed=0), root / "learner")
    control, control_face = run(do_family(data, seed=0, label_control="shuffled"), root / "control")
    train, face_train = learned["final_train"], learned_face["final_train"]
    control_train, control_face_train = control["final_train"], control_face["final_train"]
    assert face_train["va_score"] >= control_face_train["va_score"] + 0.25, (face_train, control_face_train)
    assert (face_train["expression_accuracy"] >= control_face_train["expression_accuracy"] + 0.12
            ), (face_train, control_face_train)
    assert (learned_face["evaluation"]["ccc_valence"] >= control_face["evaluation"]["ccc_valence"] + 0.15
            ), (learned_face["evaluation"], control_face["evaluation"])
    assert train["va_score"] >= control_train["va_score"] + 0.12, (train, control_train)
    assert train["expression_score"] >= control_train["expression_score"] + 0.06, (train, control_train)
    for name, scores in (("face", control_face_train), ("model 4", control_train)):
        assert abs(scores["va_score"]) <= 0.1, (name, scores)
