"""AffWildNet fine-tuned on RECOLA (Kollias 2019, section 5.1.1).

Paper:     Kollias et al. 2019, IJCV, "Deep Affect Prediction in-the-wild" (Aff-Wild), section 5.1.1.
Table/row: Table 15, "Fine-tuned AffWildNet".
Published: RECOLA test set, CCC valence 0.526, arousal 0.273 (CCC only: the loss was CCC, section 5.1.1).
Runtime:   not given by the paper. Here, with no arguments: 17 min from nothing on 2 CPU cores (2026-12-04,
           load 1-2): the flagship stage on first use (SynthAffect seed 1 generated, its CNN stage 3.5 min, the
           flagship 2.4 min), the RECOLA layout, and the fine-tuning (4 epochs of 25 steps, 6.9 min); with
           --smoke: about a minute.
Measured:  seed 0, synthetic, the 8 validation people (3,515 frames, all concatenated): CCC valence 0.837,
           arousal 0.902 (MSE 0.079 / 0.048; the mean of the per-recording CCCs 0.699 / 0.815). Its
           shuffled-label control (--label-control shuffled: the flagship stage trained on shuffled labels too;
           8 min 00 s with that stage cached): CCC -0.002 / 0.006 (MSE 1.476 / 2.279).
Command:   python recipes/affwildnet_recola.py                           # SynthAffect in the RECOLA layout
           python recipes/affwildnet_recola.py --data DIR --init runs/affwildnet/<run>   # the paper

Fine-tunes the AffWildNet from ``--init`` (default: on SynthAffect the flagship recipe trained first on
other synthetic people, SynthAffect seed 1, a cached stage; with ``--data`` the newest finished run of
recipes/affwildnet.py with the same architecture, else random initialisation with a WARNING; see
tfaffect/training/transfer.py) on RECOLA's ``train`` recordings and scores CCC over all frames of the
``validation`` (AVEC 2016 ``dev``) recordings concatenated. Deviation: the paper scores the RECOLA
*test* set, whose ratings were not released with the AVEC 2016 data; dev is what can be scored.
``--data DIR`` takes shards written by ``tfaffect prepare --dataset recola --root AVEC2016``.

Section 5 gives no fine-tuning hyperparameter: the fields keep section 4.2's AffWildNet settings
(Adam 1e-3, dropout 0.5, CCC loss, 80 frames a step) and turn the quadrant oversampling off. With no
``--data`` the run uses SynthAffect written in the RECOLA layout (synthetic, labelled so everywhere)
and ``TransferRecipe.synthaffect``: learning rate 1e-4, 4 epochs of at most 25 steps, windows
of 16 frames, 5 per step (listed in config.json under derived.deviations).
"""

from tfaffect.launch import main, quiet_start

quiet_start(__name__)  # run as a script: TensorFlow's C++ start-up log off before Keras loads

import dataclasses

from tfaffect.training.transfer import TransferRecipe


@dataclasses.dataclass(frozen=True)
class AffWildNetRecolaRecipe(TransferRecipe):
    """AffWildNet fine-tuned on RECOLA (Kollias 2019, section 5.1.1, Table 15)."""

    layout = "recola"
    published_rows = (("kollias2019", "Table 15", "Fine-tuned AffWildNet"),)
    runtime = "about as affwildnet.py on SynthAffect (not timed separately); not given by the paper"

    # Every field keeps TransferRecipe's default: the AffWildNet of Table 8 (section 4.2 settings),
    # fine-tuned as a whole from `init`, no quadrant oversampling (section 5 is silent on all of them).


if __name__ == "__main__":
    main(AffWildNetRecolaRecipe)
