"""The papers' published numbers, kept as data so reports can put ours beside them.

Every entry is typed in from the paper's table named in it (``../shared/papers/``). Metric keys are
``<metric>_<dimension>`` (``ccc_valence``, ``mse_arousal``, ``pcc_valence``) or ``accuracy_<class>`` /
``accuracy``. Nothing here is computed; nothing here was measured by tfaffect.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping

PAPERS = MappingProxyType({
    "kollias2019": "Kollias et al. 2019, Deep Affect Prediction in-the-wild: Aff-Wild Database and "
                   "Challenge, Deep Architectures, and Beyond (IJCV)",
    "do2020": "Do, Nguyen-Quynh, Kim 2020, Affective Expression Analysis in-the-wild using Multi-Task "
              "Temporal Statistical Deep Learning Model (FG 2020, ABAW)",
    "kahou2015": "Kahou, Michalski, Konda, Memisevic, Pal 2015, Recurrent Neural Networks for Emotion Recognition "
                 "in Video (ICMI 2015, EmotiW)",
    "aspandi2021": "Aspandi, Sukno, Schuller, Binefa 2021, An Enhanced Adversarial Network with Combined Latent "
                   "Features for Spatio-Temporal Facial Affect Estimation in the Wild (VISAPP 2021)",
    "li2017": "Li, Chen, Xiao, Zhao, Roy, Feng, Yan, Sim 2017, Estimation of Affective Level in the Wild With "
              "Multiple Memory Networks (CVPR 2017 workshops, Aff-Wild challenge)",
})


@dataclasses.dataclass(frozen=True)
class PublishedResult:
    paper: str
    table: str
    row: str
    dataset: str
    metrics: Mapping[str, float]
    note: str = ""

    def __post_init__(self):
        if self.paper not in PAPERS:
            raise ValueError(f"unknown paper key {self.paper!r}")
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))


def _va(ccc_v, ccc_a, mse_v=None, mse_a=None, *, prefix="ccc"):
    out = {f"{prefix}_valence": ccc_v, f"{prefix}_arousal": ccc_a}
    if mse_v is not None:
        out.update(mse_valence=mse_v, mse_arousal=mse_a)
    return out


_K = "kollias2019"
_AW = "Aff-Wild test"
_EXPR = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")

RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult(_K, "Table 5", "CNN-M", _AW, _va(0.15, 0.10, 0.13, 0.14),
                    "challenge baseline, MSE loss"),
    PublishedResult(_K, "Table 9", "VGG Face", _AW, _va(0.51, 0.33, 0.10, 0.08)),
    PublishedResult(_K, "Table 9", "VGG-16", _AW, _va(0.40, 0.30, 0.13, 0.11)),
    PublishedResult(_K, "Table 9", "ResNet-50", _AW, _va(0.43, 0.30, 0.11, 0.11)),
    PublishedResult(_K, "Table 10", "With Landmarks", _AW, _va(0.51, 0.33, 0.10, 0.08),
                    "best CNN (VGG Face)"),
    PublishedResult(_K, "Table 10", "Without Landmarks", _AW, _va(0.44, 0.32, 0.12, 0.11),
                    "best CNN (VGG Face)"),
    PublishedResult(_K, "Table 11", "1 Annotator", _AW, _va(0.39, 0.27, 0.15, 0.13)),
    PublishedResult(_K, "Table 11", "Mean of Annotators", _AW, _va(0.51, 0.33, 0.10, 0.08)),
    PublishedResult(_K, "Table 12", "best CNN-GRU", _AW, _va(0.57, 0.43, 0.08, 0.06),
                    "AffWildNet: 2 hidden layers, 128 units"),
    PublishedResult(_K, "Table 12", "best CNN-LSTM", _AW, _va(0.52, 0.38, 0.10, 0.09),
                    "2 hidden layers, 128 units"),
    PublishedResult(_K, "Table 13", "best CNN", _AW, _va(0.51, 0.33, 0.10, 0.08)),
    PublishedResult(_K, "Table 13", "best CNN-RNN", _AW, _va(0.57, 0.43, 0.08, 0.06)),
    *(PublishedResult(_K, "Table 14", f"{units} units, {layers} layer{'s' * (layers > 1)}", _AW,
                      _va(v, a), "CNN-GRU; CCC only")
      for units, layers, v, a in ((100, 1, 0.44, 0.36), (100, 2, 0.50, 0.41),
                                  (128, 1, 0.53, 0.40), (128, 2, 0.57, 0.43),
                                  (150, 1, 0.46, 0.39), (150, 2, 0.51, 0.41))),
    PublishedResult(_K, "Table 15", "Fine-tuned AffWildNet", "RECOLA test", _va(0.526, 0.273)),
    PublishedResult(_K, "Table 15", "ResNet-GRU", "RECOLA test", _va(0.462, 0.209)),
    PublishedResult(_K, "Table 16", "best of [29]", "AFEW-VA 5-fold",
                    _va(0.407, 0.445, prefix="pcc"), "Kossaifi et al. 2017"),
    PublishedResult(_K, "Table 16", "Fine-tuned AffWildNet", "AFEW-VA 5-fold",
                    _va(0.514, 0.575, prefix="pcc")),
    PublishedResult(_K, "Table 17", "only CNN", "AFEW-VA 5-fold", _va(0.44, 0.474)),
    PublishedResult(_K, "Table 17", "Fine-tuned AffWildNet", "AFEW-VA 5-fold", _va(0.515, 0.556)),
    *(PublishedResult(_K, "Table 18", row, "EmotiW 2017 validation",
                      {**{f"accuracy_{c}": x for c, x in zip(_EXPR, accs)}, "accuracy": total})
      for row, *accs, total in (
          ("VGG-16", 0.327, 0.424, 0.102, 0.093, 0.476, 0.138, 0.133, 0.263),
          ("VGG-16 + RNN", 0.431, 0.559, 0.026, 0.07, 0.444, 0.259, 0.044, 0.293),
          ("ResNet", 0.31, 0.153, 0.077, 0.023, 0.534, 0.207, 0.067, 0.211),
          ("ResNet + RNN", 0.431, 0.237, 0.077, 0.07, 0.587, 0.155, 0.089, 0.261),
          ("VGG-Face + RNN", 0.552, 0.593, 0.026, 0.047, 0.794, 0.259, 0.111, 0.384),
          ("fine-tuned AffWildNet", 0.569, 0.627, 0.051, 0.023, 0.746, 0.709, 0.111, 0.454))),
)


_D = "do2020"
_D_KEYS = ("accuracy", "f1_macro", "expression_score", "ccc_arousal", "ccc_valence", "va_score")
"""Do 2020 Tables II / III columns in the paper's order: Acc., F1, Expr. Score (eq. 5), Aro., Val., VA Score (eq. 7)."""


def _do(*values):
    """Do 2020 metrics from a row's cells in column order (``None`` = "-" in the paper)."""
    return {k: v for k, v in zip(_D_KEYS, values) if v is not None}


_X = (None, None, None)
RESULTS += (
    PublishedResult(_D, "Table II", "[7]", "Aff-Wild2 validation", _do(None, None, 0.36, 0.14, 0.24, 0.19),
                    "ABAW 2020 baseline"),
    PublishedResult(_D, "Table II", "1", "Aff-Wild2 validation", _do(0.408, 0.417, 0.409), "Emotion Image"),
    PublishedResult(_D, "Table II", "2", "Aff-Wild2 validation", _do(0.493, 0.512, 0.501, 0.484, 0.484, 0.484),
                    "Emotion VA Image"),
    PublishedResult(_D, "Table II", "3", "Aff-Wild2 validation", _do(0.401, 0.414, 0.405), "Emotion Frame"),
    PublishedResult(_D, "Table II", "4", "Aff-Wild2 validation", _do(0.479, 0.507, 0.492, 0.564, 0.504, 0.534),
                    "Emotion VA Frame"),
    PublishedResult(_D, "Table II", "5", "Aff-Wild2 validation", _do(0.4, 0.405, 0.399),
                    "Emotion Frame with LSTM; the paper prints this row's model number as '3' (a typo: it "
                    "is the fifth of six rows, between models 4 and 6)"),
    PublishedResult(_D, "Table II", "6", "Aff-Wild2 validation", _do(0.428, 0.441, 0.432, 0.57, 0.458, 0.514),
                    "Emotion VA Frame with LSTM"),
    PublishedResult(_D, "Table II", "Fusion", "Aff-Wild2 validation",
                    _do(0.534, 0.556, 0.543, 0.56, 0.495, 0.527), "average of the models' outputs"),
    *(PublishedResult(_D, "Table III", f"track {track}, {row}", "Aff-Wild2 test", _do(*values))
      for track, row, values in (
          (1, "[7]", (*_X, 0.27, 0.11, 0.19)),
          (1, "submission 1 (model 2)", (*_X, 0.295, 0.356, 0.325)),
          (1, "submission 2 (model 4)", (*_X, 0.342, 0.368, 0.355)),
          (1, "submission 3 (model 6)", (*_X, 0.383, 0.381, 0.382)),
          (1, "submission 4 (Fusion)", (*_X, 0.354, 0.386, 0.37)),
          (2, "[7]", (None, None, 0.30)),
          (2, "submission 1 (model 2)", (0.546, 0.263, 0.356)),
          (2, "submission 2 (model 4)", (0.48, 0.264, 0.335)),
          (2, "submission 3 (model 2)", (0.547, 0.311, 0.389)),
          (2, "submission 4 (Fusion)", (0.565, 0.295, 0.384)))),
)


_KA = "kahou2015"
_AFEW_VAL = "AFEW 5.0 validation (EmotiW 2015)"
RESULTS += tuple(
    PublishedResult(_KA, "Table 1", row, _AFEW_VAL, {"train_accuracy": train, "accuracy": validation},
                    "trained on the Train partition; accuracy on Train and on Val")
    for row, train, validation in (("Activity", 0.983, 0.266), ("Audio", 0.418, 0.332),
                                   ("Aggregated CNN", 0.505, 0.350), ("RNN", 0.848, 0.396)))
RESULTS += (PublishedResult(_KA, "Section 6.2", "Feature fusion network", _AFEW_VAL, {"accuracy": 0.437},
                            "validation accuracy of the feature fusion network trained on Train (text of section "
                            "6.2: 43.7 %); which optimiser version (first or stable) is not said"),)
RESULTS += tuple(  # Table 2 prints percent; kept here as fractions like Table 1
    PublishedResult(_KA, "Table 2", row, "AFEW 5.0 (EmotiW 2015)", values, note)
    for row, values, note in (
        ("1", {"train_accuracy": 0.86216, "accuracy": 0.54716, "test_accuracy": 0.44341},
         "decision fusion; models trained on Train, random search on Val (Valid is the search partition)"),
        ("2", {"train_accuracy": 0.81997, "accuracy": 0.54447, "test_accuracy": 0.48979},
         "as 1 with the stable fusion network"),
        ("3", {"test_accuracy": 0.50463}, "retrained on Train+Val with the hyperparameters of 2"),
        ("4", {"train_accuracy": 0.52320, "accuracy": 0.71967, "test_accuracy": 0.50092},
         "models trained on Val, random search on Train (Train is the search partition)"),
        ("5", {"train_accuracy": 0.52742, "accuracy": 0.68463, "test_accuracy": 0.47680},
         "as 4 with the stable fusion network"),
        ("6", {"test_accuracy": 0.52875}, "retrained on Train+Val with the hyperparameters of 4"),
        ("7", {"test_accuracy": 0.49907}, "random search over submissions 3 and 6 on Train+Val")))


_A = "aspandi2021"
_A_T1 = ("rmse_valence", "rmse_arousal", "rmse_mean", "pcc_valence", "pcc_arousal", "pcc_mean",
         "icc_valence", "icc_arousal", "icc_mean")
"""Aspandi 2021 Table 1 columns (AFEW-VA, [-10, 10] scale): RMSE, COR (Pearson), ICC; VAL, ARO, AVG."""
_A_T2 = ("rmse_valence", "rmse_arousal", "rmse_mean", "pcc_valence", "pcc_arousal", "pcc_mean",
         "ccc_valence", "ccc_arousal", "ccc_mean")
"""Aspandi 2021 Table 2 columns (SEWA): RMSE, COR (Pearson), CCC; VAL, ARO, AVG."""

RESULTS += tuple(
    PublishedResult(_A, "Table 1", row, "AFEW-VA 5-fold", dict(zip(_A_T1, values)), note)
    for row, note, *values in (
        ("ANCLaF", "", 2.682, 2.344, 2.513, 0.306, 0.399, 0.353, 0.219, 0.309, 0.264),
        ("ANCLaF-S-2", "", 2.675, 2.295, 2.485, 0.314, 0.410, 0.362, 0.236, 0.296, 0.266),
        ("ANCLaF-S-4", "", 2.654, 2.279, 2.467, 0.303, 0.420, 0.361, 0.224, 0.307, 0.266),
        ("ANCLaF-S-8", "", 2.595, 2.202, 2.398, 0.328, 0.425, 0.377, 0.272, 0.344, 0.308),
        ("ANCLaF-S-16", "", 2.617, 2.292, 2.454, 0.302, 0.401, 0.351, 0.224, 0.299, 0.261),
        ("ANCLaF-S-32", "", 2.568, 2.328, 2.448, 0.288, 0.405, 0.346, 0.214, 0.304, 0.259),
        ("ANCLaF-S-AVG", "mean of the ANCLaF-S-n rows", 2.622, 2.279, 2.450, 0.307, 0.412, 0.360, 0.234, 0.310,
         0.272),
        ("ANCLaF-SA-2", "", 2.540, 2.241, 2.390, 0.373, 0.454, 0.413, 0.291, 0.353, 0.322),
        ("ANCLaF-SA-4", "", 2.586, 2.260, 2.423, 0.386, 0.445, 0.415, 0.302, 0.342, 0.322),
        ("ANCLaF-SA-8", "", 2.481, 2.239, 2.360, 0.371, 0.467, 0.419, 0.294, 0.367, 0.331),
        ("ANCLaF-SA-16", "", 2.601, 2.225, 2.413, 0.377, 0.467, 0.422, 0.294, 0.363, 0.328),
        ("ANCLaF-SA-32", "", 2.581, 2.256, 2.419, 0.361, 0.436, 0.399, 0.270, 0.332, 0.301),
        ("ANCLaF-SA-AVG", "mean of the ANCLaF-SA-n rows", 2.558, 2.244, 2.401, 0.373, 0.454, 0.414, 0.290, 0.352,
         0.321)))
RESULTS += tuple(
    PublishedResult(_A, "Table 2", row, "SEWA 5-fold", dict(zip(_A_T2, values)), note)
    for row, note, *values in (
        ("ANCLaF", "", 0.354, 0.347, 0.351, 0.530, 0.395, 0.462, 0.492, 0.364, 0.428),
        ("ANCLaF-S-2", "", 0.349, 0.345, 0.347, 0.533, 0.396, 0.464, 0.503, 0.368, 0.436),
        ("ANCLaF-S-4", "", 0.344, 0.336, 0.340, 0.536, 0.403, 0.469, 0.510, 0.382, 0.446),
        ("ANCLaF-S-8", "", 0.341, 0.339, 0.340, 0.538, 0.404, 0.471, 0.514, 0.381, 0.448),
        ("ANCLaF-S-16", "", 0.354, 0.344, 0.349, 0.527, 0.395, 0.461, 0.490, 0.369, 0.429),
        ("ANCLaF-S-32", "", 0.353, 0.346, 0.349, 0.527, 0.396, 0.461, 0.494, 0.368, 0.431),
        ("ANCLaF-S-AVG", "mean of the ANCLaF-S-n rows", 0.348, 0.342, 0.345, 0.532, 0.399, 0.465, 0.502, 0.374,
         0.438),
        ("ANCLaF-SA-2", "", 0.343, 0.333, 0.338, 0.545, 0.420, 0.482, 0.509, 0.390, 0.449),
        ("ANCLaF-SA-4", "", 0.336, 0.328, 0.332, 0.550, 0.429, 0.490, 0.526, 0.399, 0.463),
        ("ANCLaF-SA-8", "", 0.336, 0.332, 0.334, 0.558, 0.424, 0.491, 0.529, 0.405, 0.467),
        ("ANCLaF-SA-16", "", 0.334, 0.331, 0.332, 0.556, 0.421, 0.488, 0.528, 0.393, 0.461),
        ("ANCLaF-SA-32", "", 0.336, 0.362, 0.349, 0.550, 0.418, 0.484, 0.513, 0.389, 0.451),
        ("ANCLaF-SA-AVG", "mean of the ANCLaF-SA-n rows", 0.337, 0.337, 0.337, 0.552, 0.422, 0.488, 0.521, 0.395,
         0.458)))


_L = "li2017"
_LV = "Aff-Wild validation (38 videos)"
_L_KEYS = ("mse_valence", "mse_arousal", "ccc_valence", "ccc_arousal")
"""Li 2017 Tables 4 and 6-9 columns in the paper's order: Val. MSE, Aro. MSE, Val. CCC, Aro. CCC."""


def _li(*values):
    return dict(zip(_L_KEYS, values))


def _li_mse(train, validation):
    """Li 2017 Tables 2, 3, 5: MSE = the mean of the valence and arousal MSEs (section 3.2), FACE frames."""
    return {"mse_train": train, "mse_validation": validation}


RESULTS += (
    PublishedResult(_L, "Table 2", "CNN", _LV, _li_mse(0.0218, 0.1067), "baseline CRU-Net-56-tiny, fine-tuned"),
    PublishedResult(_L, "Table 3", "BDLSTM", _LV, _li_mse(0.03423, 0.09842), "C=250, L=11, FT features"),
    PublishedResult(_L, "Table 3", "BDLSTM No FT", _LV, _li_mse(0.098882, 0.107055), "C=250, L=11"),
    PublishedResult(_L, "Table 3", "BDLSTM FT+No FT", _LV, _li_mse(0.025454, 0.098333), "C=250, L=11, 1024-d"),
    PublishedResult(_L, "Table 4", "BDLSTM-FACE", _LV, _li(0.111205, 0.085461, 0.156441, 0.290109),
                    "BDLSTM FT+No FT, frames with a face"),
    PublishedResult(_L, "Table 4", "BDLSTM-ALL", _LV, _li(0.117331, 0.085551, 0.173021, 0.305441),
                    "BDLSTM FT+No FT, all frames (missing faces interpolated)"),
    *(PublishedResult(_L, "Table 5", f"BDLSTM C={c}, L={length}", _LV, _li_mse(train, validation), "FT features")
      for c, length, train, validation in ((250, 11, 0.03423, 0.09842), (50, 11, 0.03003, 0.096982),
                                           (50, 5, 0.02732, 0.101284), (25, 5, 0.03559, 0.0964594),
                                           (16, 5, 0.04305, 0.098990))),
    PublishedResult(_L, "Table 6", "P. Ensemble-FACE", _LV, _li(0.106248, 0.085021, 0.135649, 0.179434)),
    PublishedResult(_L, "Table 6", "P. Ensemble-ALL", _LV, _li(0.112563, 0.085950, 0.160917, 0.186296)),
    PublishedResult(_L, "Table 7", "MLP1-FACE", _LV, _li(0.112767, 0.084258, 0.209685, 0.261834)),
    PublishedResult(_L, "Table 7", "MLP1-ALL", _LV, _li(0.118834, 0.084636, 0.222690, 0.270243)),
    PublishedResult(_L, "Table 7", "MLP2-FACE", _LV, _li(0.111141, 0.084448, 0.166286, 0.281198)),
    PublishedResult(_L, "Table 7", "MLP2-ALL", _LV, _li(0.117270, 0.084574, 0.175925, 0.292242)),
    PublishedResult(_L, "Table 8", "F. Ensemble-FACE", _LV, _li(0.106630, 0.084108, 0.149588, 0.203219)),
    PublishedResult(_L, "Table 8", "F. Ensemble-ALL", _LV, _li(0.112930, 0.084873, 0.171364, 0.210785)),
    PublishedResult(_L, "Table 9", "Single Model", "Aff-Wild test", _li(0.134358, 0.088, 0.19635, 0.21417),
                    "all frames"),
    PublishedResult(_L, "Table 9", "P. Ensemble", "Aff-Wild test", _li(0.132, 0.0887, 0.1655, 0.1938), "all frames"),
    PublishedResult(_L, "Table 9", "F. Ensemble", "Aff-Wild test", _li(0.132158, 0.0881, 0.177, 0.2126),
                    "all frames"),
)


def table(paper: str, table_name: str) -> list[PublishedResult]:
    """All rows of one paper table, in the paper's order."""
    rows = [r for r in RESULTS if r.paper == paper and r.table == table_name]
    if not rows:
        known = sorted({r.table for r in RESULTS if r.paper == paper})
        raise KeyError(f"no published rows for {paper} {table_name!r}; known tables: {known}")
    return rows


def lookup(paper: str, table_name: str, row: str) -> PublishedResult:
    """One published row, e.g. ``lookup("kollias2019", "Table 12", "best CNN-GRU")``."""
    for r in table(paper, table_name):
        if r.row == row:
            return r
    rows = [r.row for r in table(paper, table_name)]
    raise KeyError(f"{paper} {table_name} has no row {row!r}; rows: {rows}")
