"""Learning tests: a small configuration of each family trains for about a minute on a SynthAffect subset
and must beat its shuffled-label control by a margin measured beforehand (DESIGN.md rule 7: a default
that does not learn is a bug, and a change that breaks learning fails here).

The subset (tests/training/conftest.py, shared with test_learning_stat_lstm.py): 12 training and 4
validation people (disjoint identities), 150 frames each, stored at 48 px and prepared at 32 px. Margins and bounds are derived from measured runs, see each test.
"""

import json

import keras
import pandas as pd

from tfaffect.training import runner
from tfaffect.training.affwild import AffWildRecipe

def flagship_family(data, **fields):
    """AffWildNet as the flagship's SynthAffect default (CNN stage, frozen conv part, standardized
    landmarks, 16-frame windows, 5 per step, Adam 1e-4), at 32 px and a one-minute budget."""
    return AffWildRecipe(data=str(data), image_size=32, learning_rate=1e-4, epochs=4, max_steps_per_epoch=25,
                         max_validation_steps=5, sequence_length=16, batch_size=5, cnn_pretrain=True,
                         cnn_pretrain_steps=120, cnn_pretrain_mixed_precision=True, freeze="backbone", **fields)


def run(recipe, run_dir):
    keras.backend.clear_session()
    runner.run(recipe, run_dir)
    evaluation = json.loads((run_dir / "metrics.json").read_text())["evaluation"]
    frames = pd.read_csv(run_dir / "frames.csv")
    return evaluation, frames[frames["has_face"]]


def test_affwildnet_beats_its_shuffled_label_control(learning_subset):
    """Measured with this configuration (validation, 4 unseen people; issue #10):

    =====================  ==========  ===========  =========  ===========  ===================
    run                    CCC val.    CCC arousal  CCC mean   MSE v / a    offset v / a; std ratio
    =====================  ==========  ===========  =========  ===========  ===================
    seed 0                 0.690       0.437        0.564      0.080 0.063  -0.06 0.05; 0.80 0.80
    seed 1                 0.547       0.083        0.315      0.142 0.170  -0.07 0.13; 1.00 1.23
    shuffled, seed 0       0.016       -0.003       0.006      0.252 5.042   0.32 -2.22; 0.11 0.47
    =====================  ==========  ===========  =========  ===========  ===================

    So the bounds: mean CCC at least 0.15 above the control's (half the smallest measured margin,
    0.31), valence at least 0.25 above (half of 0.53); arousal is not bounded on its own, its cue (mouth
    and eye opening) is a pixel or two at 32 px and one seed learned little of it (the full-size
    default run learns it: README). The control near 0 (below); MSE at most 0.25 (measured <= 0.17);
    the mean prediction within 0.25 of the labels' mean and their spread 0.5-1.6x the labels' (measured
    0.80-1.23; the control's 0.11 and 2.2 offset fail these). The control's CCC is bounded to +-0.2: the same
    seed is not bit-reproducible across thread schedules, and a CI run on two pytest workers measured its valence
    at -0.123 (arousal 0.025); the margins count from ``max(control, 0)``, so a negative control helps no margin.
    """
    root, data = learning_subset
    learned, frames = run(flagship_family(data, seed=0), root / "learner")
    control, _ = run(flagship_family(data, seed=0, label_control="shuffled"), root / "control")
    # a control below 0 makes no margin easier: the margins count from max(control, 0)
    assert learned["ccc_mean"] >= max(control["ccc_mean"], 0) + 0.15, (learned, control)
    assert learned["ccc_valence"] >= max(control["ccc_valence"], 0) + 0.25, (learned, control)
    for dim in ("valence", "arousal"):
        assert abs(control[f"ccc_{dim}"]) <= 0.2, (dim, control)
        assert learned[f"mse_{dim}"] <= 0.25, (dim, learned)
        predicted, true = frames[dim], frames[f"{dim}_true"]
        assert abs(predicted.mean() - true.mean()) <= 0.25, (dim, predicted.mean(), true.mean())
        assert 0.5 <= predicted.std() / true.std() <= 1.6, (dim, predicted.std(), true.std())
