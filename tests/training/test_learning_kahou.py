"""Learning test of the Kahou 2015 family (DESIGN.md rule 7): its frame CNN (section 2.1, the stage every Table 1
model of the family starts from) trains for 30 steps on the SynthAffect subset the learning tests share and must fit
its training labels better than the majority class and than its shuffled-label control, by margins measured
beforehand. The IRNN's own learning is shown by tests/models/test_kahou.py (the long-dependency toy task) and by the
recipe's SynthAffect demo (recipes/kahou_cnn_irnn.py).
"""

import json

import keras
import numpy as np

from tfaffect.training import runner
from tfaffect.training.kahou import KahouFrameCNNTask

SIZE = 24  # input side: the subset's 32 px faces whole (face_size = image_size: no crop), resized to 24 (4x cheaper
           # than the paper's 44; 20 -> 10 -> 5 -> 2 after the pools at 20 would leave a 2x2 map)


def frame_cnn(data, **fields):
    """The frame CNN at 24 px, SGD lr 0.01 (10 x the released code's 1e-3, as the recipes' SynthAffect overlay: on
    the full SynthAffect 1e-3 reached training accuracy 0.349 after 2 epochs, 0.01 0.438), batch 64, 3 epochs of 10
    steps, mean and std images from 512 frames."""
    return KahouFrameCNNTask(data=str(data), image_size=SIZE, face_size=SIZE, learning_rate=0.01, batch_size=64,
                             epochs=3, max_steps_per_epoch=10, statistics_frames=512, **fields)


def run(recipe, run_dir):
    keras.backend.clear_session()
    runner.run(recipe, run_dir, verbose=0)
    return json.loads((run_dir / "metrics.json").read_text())


def majority_share(data, split="train") -> float:
    """The share of the most frequent expression among the split's labelled frames (the manifest's histogram)."""
    manifest = json.loads((data / "manifest.json").read_text())
    counts = np.sum([shard["histogram"]["expression"] for shard in manifest["shards"] if shard["split"] == split],
                    axis=0)
    return float(counts.max() / counts.sum())


def test_frame_cnn_fits_its_labels_better_than_the_majority_class_and_its_shuffled_label_control(learning_subset):
    """Measured with this configuration (seed 0, 2 CPU cores shared at load average ~14: 55 s and 52 s per run):

    ===================  ==========================  ==========================
    run                  training accuracy (epoch 3)  validation frame accuracy
    ===================  ==========================  ==========================
    frame CNN            0.431                        0.190
    its control          0.289                        0.237
    ===================  ==========================  ==========================

    The training subset's majority class (Neutral) is 0.283 of its labelled frames. At 44 px (the paper's input,
    20 % slower here) the same budget gave 0.379 / 0.281 training and 0.256 / 0.179 validation accuracy. On the 4
    unseen people the 30-step CNN does not beat its control at 24 px, so the bounds guard the image-label pairing
    on the training frames: the margin over the control is half the measured one (+0.07 of 0.142), over the
    majority class likewise (+0.07 of 0.148); the control stays within 0.06 of the majority share (measured 0.006).
    """
    root, data = learning_subset
    learned = run(frame_cnn(data, seed=0), root / "learner")
    control = run(frame_cnn(data, seed=0, label_control="shuffled"), root / "control")
    majority = majority_share(data)
    train, control_train = learned["final_train"]["accuracy"], control["final_train"]["accuracy"]
    assert train >= control_train + 0.07, (learned["final_train"], control["final_train"])
    assert train >= majority + 0.07, (train, majority)
    assert abs(control_train - majority) <= 0.06, (control_train, majority)
    assert 0 <= learned["evaluation"]["accuracy"] <= 1 and learned["evaluation"]["expression_frames"] > 0
