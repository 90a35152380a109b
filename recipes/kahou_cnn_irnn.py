"""CNN features -> IRNN -> one of 7 emotions per video clip (Kahou et al. 2015, EmotiW 2015, section 2.2).

Paper:     Kahou, Michalski, Konda, Memisevic & Pal 2015, "Recurrent Neural Networks for Emotion Recognition
           in Video" (ICMI 2015, EmotiW), sections 2.1-2.2; released code saebrahimi/Emotion-Recognition-RNN.
Table/row: Table 1, "RNN" (trained on the Train partition).
Published: AFEW 5.0 accuracy, training 0.848, validation 0.396.
Runtime:   not given by the paper. Here, with no arguments, on 2 shared CPU cores: see the measured figures
           below the header; with --smoke well under a minute.
Command:   python recipes/kahou_cnn_irnn.py                                    # SynthAffect, AFEW layout
           python recipes/kahou_cnn_irnn.py --data AFEW48 --frame-data STILLS48   # the paper's setting

What runs (tfaffect/training/kahou.py): the frame CNN (section 2.1) is trained first as a stage on still images
with per-frame expression labels (--frame-data; the paper: FER2013 + TFD; none: SynthAffect's frames), or taken
from --frame-model; its second conv layer after pooling (32 x 11 x 11 = 3,872 values per frame) is extracted
once into the per-frame feature cache over every frame of the AFEW clips; the IRNN (200 ReLU units, identity
recurrence, no hidden bias, tfaffect/models/kahou.py) then reads each clip's face frames in order and is trained
with cross-entropy at the last frame: SGD, learning rate 0.005, 64 clips per batch, gradient clipping at 1 (section
2.2), no momentum (released code). The clip's prediction is the softmax at its last frame; the run reports the
validation ("Validation" of Table 1) and training ("Training") clip accuracies, clips.csv, confusion.csv and the
running per-frame probabilities in frames.csv. ``--data DIR``: shards of ``tfaffect prepare --dataset afew --size
48``; ``--frame-data DIR``: prepared stills at 48 px with expression labels.

Left open by the paper and stated on the fields: the number of epochs (early stopping on validation), whether
the clipping is global, the frame CNN's epochs. With no --data the recipe runs on SynthAffect in the AFEW layout
(synthetic; clip label = the majority expression of its frames, tfaffect/data/synth_layouts.py) with the demo
budget of the overlay below (synthaffect), each entry with its measured reason.
"""

import dataclasses

from tfaffect.training.kahou import KahouIRNNTask
from tfaffect.launch import main


@dataclasses.dataclass(frozen=True)
class KahouCNNIRNNRecipe(KahouIRNNTask):
    """Kahou 2015, Table 1 "RNN": frame CNN conv2 features -> IRNN 200 -> emotion at the clip's last frame."""

    published_rows = (("kahou2015", "Table 1", "RNN"),)
    runtime = "see the module docstring (measured on SynthAffect); not given by the paper"
    synthaffect = {
        "cnn_learning_rate": 0.01, "cnn_epochs": 5,  # placeholder, measured below
        "epochs": 30,  # placeholder
    }


if __name__ == "__main__":
    main(KahouCNNIRNNRecipe)
