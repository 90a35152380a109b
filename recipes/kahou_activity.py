"""Synchrony autoencoder on 16x16x10 video blocks -> k-means bag of words -> RBF SVM per clip (Kahou et al. 2015,
section 4).

Paper:     Kahou, Michalski, Konda, Memisevic & Pal 2015, "Recurrent Neural Networks for Emotion Recognition
           in Video" (ICMI 2015, EmotiW), section 4 (the pipeline of its references [20, 23]).
Table/row: Table 1, "Activity" (trained on the Train partition).
Published: AFEW version 5 (EmotiW 2015) accuracy, training 0.983, validation 0.266.
Runtime:   not given by the paper. Here about 1 min 45 s on SynthAffect (measured on 2 loaded CPU cores; see
           "Learns" below).
Command:   python recipes/kahou_activity.py                    # SynthAffect, AFEW layout
           python recipes/kahou_activity.py --data AFEW_ROOT   # raw AFEW: Train/, Val/ (class folders of clips)
           python recipes/kahou_activity.py --label-control shuffled

What runs (tfaffect/training/kahou.py KahouActivityTask, ActivityModel; tfaffect/models/kahou.py
SynchronyAutoencoder): each clip's frames, grey, downscaled to 64 rows (chosen); random 16x16x10 blocks (section 4:
"cropped 3D video blocks of size 16 x 16 x 10") from every training clip (50 per clip, chosen), each contrast
normalised, PCA-whitened to 256 components (chosen) and used to train a synchrony autoencoder (section 4's SAE,
the paper's [20]: hidden units sigmoid(f * f + b) of the summed spatio-temporal filter responses f, tied filters,
squared reconstruction error; 128 units, Adam 1e-3, 20 epochs: all chosen, the paper gives no size). Every clip is
then cut into non-overlapping blocks, their hidden codes quantised by a k-means codebook of 256 words fitted on the
training clips' codes (section 4: "k-means quantization"; k chosen), and the clip's bag-of-words histogram
(the share of its blocks per word) classified by an RBF SVM with Platt probabilities, C and gamma by 3-fold grid
search on the Train clips (the grid of the aggregated-CNN SVM; section 4: "SVM based classification"). Reported:
validation and training clip accuracies (Table 1's columns), the SAE's reconstruction loss (first and last epoch),
clips.csv (with the class probabilities decision fusion weighs), confusion.csv and plots/confusion.png (row
percentages, Figure 4's form). The Keras model of the run is the SVM's probabilities passed through; the fitted
pipeline is saved beside it (activity_model.joblib: whitening, codebook, SVM; activity_sae.keras) and loads with
tfaffect.training.kahou.load_clip_model(run_dir), whose predict(video files) gives the clips' probabilities.

Decision fusion (recipes/kahou_decision_fusion.py) weighs this model as a member; feature fusion leaves it out, as
the paper does (section 5.1: "it tends to overfit its training set").

On SynthAffect the motion is SYNTHETIC (rendered faces that change expression, head pose drifting): its accuracy
says nothing about real film clips.

Learns (SynthAffect validation, 84 clips of people unseen in training, 258 training clips, seed 0, runs of
2026-12-03, synthetic): clip accuracy 0.286, training 0.853 (grid search C 10, gamma 1e-3, cross-validated 0.403),
against 0.226 (training 0.310) for the shuffled-label control (--label-control shuffled: the SVM fitted on
permuted labels; the SAE and k-means use no label) and 0.310 for the majority class (Neutral, 26 of 84 clips). The
SAE's reconstruction error (mean square over the whitened blocks) falls from 0.906 in its first epoch to 0.509 in
its 20th. Above its control but below the majority class, and with a large gap between training and validation,
as the paper's 0.983 / 0.266 (the reason it leaves activity out of feature fusion): the rendered faces' block
motion says little about the emotion. Wall time 1 min 43 s with SynthAffect's AFEW layout already generated
(decoding the 342 clips, the SAE, k-means and the grid search; load average 2.6-5.4), the control 1 min 17 s,
--smoke 20 s (all measured under load on 2 shared CPU cores). A sensitivity check, not a tuned default: with
--frame-height 112 (SynthAffect's full 112x112 frames) 0.298, training 0.616 (1 min 31 s, load 5.1-5.4), still
below the majority class. The saved pipeline of that run, loaded with load_clip_model, gave the probabilities of
its clips.csv exactly (10 validation clips checked).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.kahou import KahouActivityTask


@dataclasses.dataclass(frozen=True)
class KahouActivityRecipe(KahouActivityTask):
    """Kahou 2015, Table 1 "Activity": synchrony autoencoder, k-means bag of words, RBF SVM per clip."""

    published_rows = (("kahou2015", "Table 1", "Activity"),)
    runtime = "about 1 min 45 s on 2 loaded CPU cores on SynthAffect (see the docstring); not given by the paper"


if __name__ == "__main__":
    main(KahouActivityRecipe)
