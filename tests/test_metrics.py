"""tfaffect.metrics against independent implementations (audmetric, scikit-learn, scipy, a direct
Shrout & Fleiss ANOVA written here) on random and adversarial inputs, plus the edge cases and the
streaming metrics against the plain functions on the concatenated frames."""

import inspect
import warnings

import audmetric
import keras
import numpy as np
import pytest
import scipy.stats
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfaffect import metrics as M

# database=None: hypothesis writes nothing outside tmp_path; derandomize: the same cases in every run.
SETTINGS = settings(database=None, deadline=None, derandomize=True, max_examples=150)
# Eager metric updates cost ~10 ms each on 2 busy cores: fewer, larger streaming cases.
STREAM_SETTINGS = settings(database=None, deadline=None, derandomize=True, max_examples=12)

REGRESSION_KINDS = ("random", "offset", "offset_apart", "tiny_variance", "ties",
                    "constant_prediction", "constant_both", "identical", "tiny_scale")


def make_regression(kind, n, d, rng):
    """A (labels, predictions) pair [n, d] of the given kind, float64."""
    shape = (n, d)
    if kind == "random":
        t = rng.uniform(-1, 1, shape)
        p = 0.6 * t + rng.normal(0, 0.4, shape)
    elif kind == "offset":  # large common offset, small noise
        t = 1e4 + rng.normal(0, 1e-2, shape)
        p = 1e4 + 0.5 * (t - 1e4) + rng.normal(0, 1e-2, shape)
    elif kind == "offset_apart":  # large and very different means
        t = 1e4 + rng.normal(0, 1e-2, shape)
        p = -3e3 + rng.normal(0, 1e-2, shape)
    elif kind == "tiny_variance":
        t = 0.3 + rng.normal(0, 1e-7, shape)
        p = 0.3 + 0.5 * (t - 0.3) + rng.normal(0, 1e-7, shape)
    elif kind == "ties":
        levels = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
        t = rng.choice(levels, shape)
        p = rng.choice(levels[1:3], shape)
    elif kind == "constant_prediction":
        t = rng.uniform(-1, 1, shape)
        p = np.full(shape, 0.1)
    elif kind == "constant_both":
        t = np.full(shape, 0.1)
        p = np.full(shape, rng.choice([0.1, -0.7]))
    elif kind == "identical":
        t = rng.uniform(-1, 1, shape)
        p = t.copy()
    else:  # tiny_scale
        t = rng.normal(0, 1e-6, shape)
        p = t + rng.normal(0, 1e-6, shape)
    return t, p


@st.composite
def regression_cases(draw, max_n=80):
    kind = draw(st.sampled_from(REGRESSION_KINDS))
    n = draw(st.integers(1, max_n))
    d = draw(st.sampled_from([1, 2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t, p = make_regression(kind, n, d, rng)
    mask = None
    if draw(st.booleans()):
        mask = rng.random((n, d) if draw(st.booleans()) else (n,)) > 0.3
        mask[0] = True  # every column keeps at least one frame
    return t, p, mask


@st.composite
def raw_regression_cases(draw):
    """Arrays straight from hypothesis: duplicates, zeros, extreme spreads, float32-representable."""
    n = draw(st.integers(1, 40))
    elements = st.floats(-1e3, 1e3, allow_nan=False, width=32)
    t = draw(hnp.arrays(np.float64, n, elements=elements))
    p = draw(hnp.arrays(np.float64, n, elements=elements))
    return t, p


# ---- independent references, one column at a time ------------------------------------------

def is_constant(x):
    return np.ptp(x) == 0


def ref_ccc(t, p):
    if len(t) == 1 or (is_constant(t) and is_constant(p) and t[0] == p[0]):
        # audmetric returns NaN here; module docstring: identical -> 1, single differing frame -> 0.
        return 1.0 if np.array_equal(t, p) else 0.0
    return audmetric.concordance_cc(t, p)


def ref_pcc(t, p):
    if len(t) == 1 or is_constant(t) or is_constant(p):
        return 0.0  # audmetric / scipy: NaN; tfaffect defines 0
    a = audmetric.pearson_cc(t, p)
    b = scipy.stats.pearsonr(p, t).statistic
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)  # the two references agree
    return a


def ref_icc_3_1(t, p):
    """Shrout & Fleiss 1979 ICC(3,1) from the two-way ANOVA mean squares, targets = frames, k = 2."""
    y = np.stack([p, t], axis=1)
    n, k = y.shape
    if n < 2 or (is_constant(t) and is_constant(p)):
        return 0.0
    grand = y.mean()
    row = y.mean(axis=1, keepdims=True)
    col = y.mean(axis=0, keepdims=True)
    bms = k * ((row - grand) ** 2).sum() / (n - 1)
    ems = ((y - row - col + grand) ** 2).sum() / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems)


def ref_sagr(t, p):
    agree = sum(1 for a, b in zip(t, p) if (a > 0) == (b > 0) and (a < 0) == (b < 0))
    return agree / len(t)


REFERENCES = {
    "ccc": ref_ccc,
    "pcc": ref_pcc,
    "icc_3_1": ref_icc_3_1,
    "icc_aspandi": ref_icc_3_1,  # equal to ICC(3,1) for k = 2 (docstring of icc_3_1)
    "mse": audmetric.mean_squared_error,
    "rmse": lambda t, p: np.sqrt(audmetric.mean_squared_error(t, p)),
    "sagr": ref_sagr,
}


def columns(t, p, mask):
    """Per column: the kept labels and predictions, 1-D."""
    t2, p2 = t.reshape(len(t), -1), p.reshape(len(p), -1)
    m = np.ones(t2.shape, bool) if mask is None else np.broadcast_to(
        mask.reshape(len(t), -1), t2.shape)
    return [(t2[m[:, j], j], p2[m[:, j], j]) for j in range(t2.shape[1])]


def assert_matches_references(t, p, mask):
    for name, ref in REFERENCES.items():
        ours = np.atleast_1d(getattr(M, name)(t, p, mask=mask))
        expected = [ref(tc, pc) for tc, pc in columns(t, p, mask)]
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9, err_msg=name)


@SETTINGS
@given(regression_cases())
def test_regression_metrics_match_independent_implementations(case):
    t, p, mask = case
    assert_matches_references(t, p, mask)


@SETTINGS
@given(raw_regression_cases())
def test_regression_metrics_on_raw_hypothesis_arrays(case):
    t, p = case
    assert_matches_references(t, p, None)


def test_one_dimensional_input_gives_float_and_columns_give_array():
    rng = np.random.default_rng(1)
    t, p = make_regression("random", 30, 2, rng)
    value = M.ccc(t[:, 0], p[:, 0])
    assert isinstance(value, float)
    per_column = M.ccc(t, p)
    assert per_column.shape == (2,)
    assert per_column[0] == pytest.approx(value, abs=1e-12)
    assert M.va_score(t, p) == pytest.approx(
        (audmetric.concordance_cc(t[:, 0], p[:, 0]) + audmetric.concordance_cc(t[:, 1], p[:, 1])) / 2,
        abs=1e-9)


def test_nan_labels_are_invalid_frames():
    rng = np.random.default_rng(2)
    t, p = make_regression("random", 40, 2, rng)
    t_nan = t.copy()
    t_nan[::3, 1] = np.nan  # -5 in the raw Aff-Wild2 files, NaN in VideoRecord
    keep = ~np.isnan(t_nan[:, 1])
    got = M.ccc(t_nan, p)
    assert got[0] == pytest.approx(audmetric.concordance_cc(t[:, 0], p[:, 0]), abs=1e-9)
    assert got[1] == pytest.approx(audmetric.concordance_cc(t[keep, 1], p[keep, 1]), abs=1e-9)


def test_hand_computed_values():
    # t = [0, 1, 2, 3], p = t + 1: var_t = var_p = cov = 1.25 (population), mean difference 1.
    t, p = np.array([0.0, 1, 2, 3]), np.array([1.0, 2, 3, 4])
    assert M.ccc(t, p) == pytest.approx(2 * 1.25 / (1.25 + 1.25 + 1))
    assert M.pcc(t, p) == pytest.approx(1.0)
    assert M.icc_aspandi(t, p) == pytest.approx(1.0)
    assert M.mse(t, p) == pytest.approx(1.0)
    assert M.rmse(t, 2 * p) == pytest.approx(np.sqrt((4 + 9 + 16 + 25) / 4))
    # signs: (+,+) agree, (-,+) not, (0,0) agree, (0,+) not, (-,-) agree
    assert M.sagr([0.5, -0.1, 0.0, 0.0, -1.0], [0.2, 0.3, 0.0, 0.1, -0.4]) == pytest.approx(3 / 5)


# ---- edge cases -------------------------------------------------------------------------------

def test_constant_predictions_are_defined():
    t = np.array([0.1, -0.4, 0.8, 0.3])
    p = np.full(4, 0.25)
    assert M.ccc(t, p) == 0.0
    assert M.pcc(t, p) == 0.0
    assert M.icc_3_1(t, p) == 0.0
    assert M.pcc(p, t) == 0.0  # constant labels


def test_constant_series_identical_or_not():
    c = np.full(7, 0.1)  # 7 * 0.1 is not exactly 0.7: the mean must not leave a spurious variance
    assert M.ccc(c, c) == 1.0
    assert M.pcc(c, c) == 0.0
    assert M.icc_3_1(c, c) == 0.0
    assert M.ccc(c, np.full(7, 0.2)) == 0.0
    assert M.mse(c, np.full(7, 0.2)) == pytest.approx(0.01)


def test_single_frame():
    assert M.ccc([0.3], [0.3]) == 1.0
    assert M.ccc([0.3], [0.5]) == 0.0
    assert M.pcc([0.3], [0.5]) == 0.0
    assert M.icc_3_1([0.3], [0.5]) == 0.0
    assert M.mse([0.3], [0.5]) == pytest.approx(0.04)
    assert M.accuracy([2], [2]) == 1.0
    assert M.f1([2], [2]) == pytest.approx(1 / 7)  # only class 2 has F1 = 1; 6 absent classes give 0


@pytest.mark.parametrize("fn", [M.ccc, M.mse, M.rmse, M.pcc, M.icc_aspandi, M.icc_3_1, M.sagr])
def test_all_masked_regression_raises(fn):
    with pytest.raises(ValueError, match="nothing is left after masking"):
        fn([0.1, 0.2], [0.3, 0.4], mask=np.array([False, False]))
    with pytest.raises(ValueError, match="nothing is left after masking in column 1"):
        fn([[0.1, np.nan], [0.2, np.nan]], [[0.3, 0.4], [0.3, 0.4]])


@pytest.mark.parametrize("fn", [M.accuracy, M.f1, M.abaw1_expression_score])
def test_all_masked_classification_raises(fn):
    with pytest.raises(ValueError, match="nothing is left after masking"):
        fn([-1, -1, -1], [0, 1, 2])
    with pytest.raises(ValueError, match="nothing is left after masking"):
        fn([0, 1, 2], [0, 1, 2], mask=np.zeros(3, bool))


@pytest.mark.parametrize("fn", [M.ccc, M.mse, M.rmse, M.pcc, M.icc_aspandi, M.icc_3_1, M.sagr])
def test_mismatched_shapes_name_both(fn):
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        fn(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(5,\)"):
        fn(np.zeros((5, 2)), np.zeros(5))


def test_classification_shape_and_value_errors():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        M.accuracy([0, 1, 2], [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        M.f1([0, 1, 2], np.zeros((3, 5)))  # 5 scores for 7 classes
    with pytest.raises(ValueError, match="y_true has class 7 at frame 1"):
        M.accuracy([0, 7], [0, 1])
    with pytest.raises(ValueError, match="y_pred has class -2 at frame 0"):
        M.accuracy([0, 1], [-2, 1])
    with pytest.raises(ValueError, match="average"):
        M.f1([0], [0], average="micro")


def test_non_finite_prediction_names_the_frame():
    with pytest.raises(ValueError, match="frame 2, column 0"):
        M.ccc([0.1, 0.2, 0.3], [0.1, 0.2, np.nan])
    # ... but not on a masked frame
    assert M.mse([0.1, 0.2, 0.3], [0.1, 0.2, np.nan], mask=np.array([True, True, False])) == 0.0
    with pytest.raises(ValueError, match="not finite at frame 1"):
        M.f1([0, 1], np.array([[1.0] * 7, [np.nan] * 7]))


def test_va_score_needs_two_columns():
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        M.va_score(np.zeros(5), np.zeros(5))


# ---- classification ---------------------------------------------------------------------------

@st.composite
def classification_cases(draw):
    n = draw(st.integers(1, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["uniform", "skewed", "absent_classes", "with_invalid"]))
    if kind == "skewed":
        probs = np.array([0.75, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01])
        t = rng.choice(7, n, p=probs)
    elif kind == "absent_classes":  # classes 1, 2, 3, 5, 6 never occur in the labels
        t = rng.choice([0, 4], n)
    else:
        t = rng.integers(0, 7, n)
    if kind == "with_invalid":
        t = np.where(rng.random(n) < 0.3, -1, t)
        t[0] = max(t[0], 0)
    scores = rng.normal(size=(n, 7)) + 2.0 * np.eye(7)[np.maximum(t, 0)] * rng.random((n, 1))
    y_pred = scores if draw(st.booleans()) else scores.argmax(axis=1)
    return t, y_pred


@SETTINGS
@given(classification_cases())
def test_classification_metrics_match_sklearn(case):
    t, y_pred = case
    labels = np.asarray(y_pred).argmax(axis=1) if np.ndim(y_pred) == 2 else y_pred
    keep = t >= 0
    kt, kp = t[keep], labels[keep]
    # labels=range(7): every class counts, absent ones with F1 = 0 (zero_division=0)
    sk = {average: sklearn.metrics.f1_score(kt, kp, labels=range(7), average=average, zero_division=0)
          for average in ("macro", "weighted")}
    sk_acc = sklearn.metrics.accuracy_score(kt, kp)
    assert M.f1(t, y_pred) == pytest.approx(sk["macro"], abs=1e-9)
    assert M.f1(t, y_pred, average="weighted") == pytest.approx(sk["weighted"], abs=1e-9)
    assert M.accuracy(t, y_pred) == pytest.approx(sk_acc, abs=1e-9)
    assert M.abaw1_expression_score(t, y_pred) == pytest.approx(0.67 * sk["macro"] + 0.33 * sk_acc,
                                                                abs=1e-9)


def test_abaw1_score_by_hand():
    # 4 frames, true [0, 0, 1, 2], predicted [0, 1, 1, 1]:
    # class 0: TP 1, FN 1 -> F1 2/3; class 1: TP 1, FP 2 -> 2/4; class 2: FN 1 -> 0; 4 absent -> 0
    macro = (2 / 3 + 1 / 2) / 7
    assert M.f1([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx(macro)
    assert M.f1([0, 0, 1, 2], [0, 1, 1, 1], average="weighted") == pytest.approx((2 * 2 / 3 + 1 / 2) / 4)
    assert M.abaw1_expression_score([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx(
        0.67 * macro + 0.33 * 2 / 4)


# ---- streaming metrics ------------------------------------------------------------------------

MOMENT_METRICS = {
    M.ConcordanceCC: M.ccc,
    M.PearsonCC: M.pcc,
    M.IntraclassCC: M.icc_3_1,
    M.MeanSquaredErrorPerDim: M.mse,
    M.RootMeanSquaredErrorPerDim: M.rmse,
}


def stream(metric, t, p, w, sizes):
    """Feeds [N, ...] arrays to ``metric`` in consecutive batches of the given sizes."""
    start = 0
    for size in sizes:
        sl = slice(start, start + size)
        metric.update_state(t[sl], p[sl], None if w is None else w[sl])
        start += size
    assert start == len(t)
    return float(metric.result())


def expected_stream_value(fn, t, p, mask, dim):
    values = np.atleast_1d(fn(t.astype(np.float64), p.astype(np.float64), mask=mask))
    return values.mean() if dim is None else values[dim]


def uneven_sizes(rng, n):
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(rng.choice([1, 7, 64, 3, 2, 17]), n - sum(sizes))))
    return sizes


@STREAM_SETTINGS
@given(st.sampled_from(REGRESSION_KINDS), st.integers(1, 120), st.integers(0, 2**32 - 1),
       st.booleans())
def test_streaming_moments_equal_plain_functions_on_concatenation(kind, n, seed, masked):
    rng = np.random.default_rng(seed)
    t, p = (x.astype(np.float32) for x in make_regression(kind, n, 2, rng))
    w = None
    mask = None
    if masked:
        w = (rng.random(n) > 0.4).astype(np.float32)
        w[: min(n - 1, 8)] = 0.0  # leading all-masked batches: the reference must wait for data
        w[-1] = 1.0
        mask = w > 0
    sizes = uneven_sizes(rng, n)
    cases = [(cls, None) for cls in MOMENT_METRICS] + [(M.ConcordanceCC, 0), (M.ConcordanceCC, 1)]
    for cls, dim in cases:
        got = stream(cls(dim=dim), t, p, w, sizes)
        want = expected_stream_value(MOMENT_METRICS[cls], t, p, mask, dim)
        # float32 accumulation against float64 on the same float32 inputs (measured worst: 5e-7)
        assert got == pytest.approx(want, rel=5e-6, abs=1e-6), (cls.__name__, dim)


def test_streaming_time_axis_and_frame_weights():
    rng = np.random.default_rng(3)
    t, p = (x.astype(np.float32).reshape(6, 5, 2) for x in make_regression("random", 30, 2, rng))
    w = (rng.random((6, 5)) > 0.3).astype(np.float32)
    t[w == 0] = np.nan  # labels of masked frames do not matter, even NaN
    metric = M.ConcordanceCC()
    for b in (slice(0, 1), slice(1, 4), slice(4, 6)):
        metric.update_state(t[b], p[b], w[b])
    keep = w.reshape(-1) > 0
    flat_t, flat_p = t.reshape(-1, 2)[keep], p.reshape(-1, 2)[keep]
    want = np.mean([audmetric.concordance_cc(flat_t[:, j], flat_p[:, j]) for j in range(2)])
    assert float(metric.result()) == pytest.approx(want, abs=2e-6)


def test_streaming_integer_weights_are_frequency_weights():
    rng = np.random.default_rng(4)
    t, p = (x.astype(np.float32) for x in make_regression("random", 40, 2, rng))
    counts = rng.integers(0, 4, 40)
    counts[0] = 1
    for cls, fn in MOMENT_METRICS.items():
        got = stream(cls(), t, p, counts.astype(np.float32), [9, 31])
        want = np.mean(fn(np.repeat(t, counts, axis=0).astype(np.float64),
                          np.repeat(p, counts, axis=0).astype(np.float64)))
        assert got == pytest.approx(want, rel=5e-6, abs=1e-6), cls.__name__


def test_streaming_constant_predictions_are_exactly_defined():
    t = np.random.default_rng(5).uniform(-1, 1, (50, 2)).astype(np.float32)
    p = np.full((50, 2), 0.1, np.float32)
    sizes = [7, 7, 7, 29]
    assert stream(M.PearsonCC(), t, p, None, sizes) == 0.0
    assert stream(M.ConcordanceCC(), t, p, None, sizes) == 0.0
    assert stream(M.ConcordanceCC(), p, p, None, sizes) == 1.0


def test_streaming_before_any_valid_frame_and_reset():
    metric = M.ConcordanceCC()
    assert float(metric.result()) == 0.0
    metric.update_state(np.ones((3, 2)), np.zeros((3, 2)), np.zeros(3))
    assert float(metric.result()) == 0.0
    t = np.array([[0.0, 1], [1, 0], [2, 2]], np.float32)
    metric.update_state(t, t)
    assert float(metric.result()) == pytest.approx(1.0)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(t, t + 1)
    assert float(metric.result()) == pytest.approx(M.ccc(t, t + 1).mean(), abs=1e-6)


@STREAM_SETTINGS
@given(classification_cases(), st.integers(0, 2**32 - 1))
def test_streaming_classification_equals_sklearn(case, seed):
    t, y_pred = case
    rng = np.random.default_rng(seed)
    w = (rng.random(len(t)) > 0.2).astype(np.float32)
    w[np.flatnonzero(t >= 0)[0]] = 1.0
    keep = (t >= 0) & (w > 0)
    labels = np.asarray(y_pred).argmax(axis=1) if np.ndim(y_pred) == 2 else y_pred
    kt, kp = t[keep], labels[keep]
    sizes = uneven_sizes(rng, len(t))
    pred = np.asarray(y_pred, np.float32 if np.ndim(y_pred) == 2 else np.int32)
    for metric, want in (
            (M.ExpressionF1(), sklearn.metrics.f1_score(kt, kp, labels=range(7), average="macro",
                                                        zero_division=0)),
            (M.ExpressionF1(average="weighted"),
             sklearn.metrics.f1_score(kt, kp, labels=range(7), average="weighted", zero_division=0)),
            (M.ExpressionAccuracy(), sklearn.metrics.accuracy_score(kt, kp)),
            (M.ABAWExpressionScore(), M.abaw1_expression_score(t, y_pred, mask=w > 0))):
        assert stream(metric, t.astype(np.int32), pred, w, sizes) == pytest.approx(want, abs=1e-6)


def test_streaming_classification_with_time_axis():
    rng = np.random.default_rng(6)
    t = rng.integers(-1, 7, (4, 6))
    t[0, 0] = 3
    scores = rng.normal(size=(4, 6, 7)).astype(np.float32)
    metric = M.ExpressionF1()
    metric.update_state(t[:1], scores[:1])
    metric.update_state(t[1:, :, None], scores[1:])  # a trailing label dimension of 1 is accepted
    keep = t.reshape(-1) >= 0
    want = sklearn.metrics.f1_score(t.reshape(-1)[keep], scores.reshape(-1, 7).argmax(1)[keep],
                                    labels=range(7), average="macro", zero_division=0)
    assert float(metric.result()) == pytest.approx(want, abs=1e-6)


def test_streaming_in_keras_evaluate_with_sample_weight():
    """Passed as weighted_metrics, the metrics see the masks; uneven last batch (50 = 3 * 16 + 2)."""
    rng = np.random.default_rng(7)
    t, p = (x.astype(np.float32) for x in make_regression("random", 50, 2, rng))
    w = (rng.random(50) > 0.3).astype(np.float32)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss="mse", weighted_metrics=[M.ConcordanceCC(dim=0, name="ccc_valence"),
                                                M.ConcordanceCC(dim=1, name="ccc_arousal")])
    result = model.evaluate(p, t, sample_weight=w, batch_size=16, verbose=0, return_dict=True)
    keep = w > 0
    for j, name in enumerate(("ccc_valence", "ccc_arousal")):
        assert result[name] == pytest.approx(audmetric.concordance_cc(t[keep, j], p[keep, j]), abs=2e-6)


STREAMING_CLASSES = [*MOMENT_METRICS, M.ExpressionAccuracy, M.ExpressionF1, M.ABAWExpressionScore]


@pytest.mark.parametrize("cls", STREAMING_CLASSES)
def test_get_config_is_exactly_the_init_arguments(cls):
    metric = cls(name="custom")
    config = metric.get_config()
    assert set(config) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    clone = cls.from_config(config)
    assert clone.get_config() == config
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is cls and restored.get_config() == config


def test_streaming_argument_and_shape_errors():
    with pytest.raises(ValueError, match="dim"):
        M.ConcordanceCC(dim=2)
    with pytest.raises(ValueError, match="average"):
        M.ExpressionF1(average="micro")
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        M.ConcordanceCC().update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="num_dims=2"):
        M.ConcordanceCC().update_state(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        M.ExpressionF1().update_state(np.zeros(4, np.int32), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        M.ExpressionAccuracy().update_state(np.zeros(4, np.int32), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 7\)"):
        M.ExpressionAccuracy().update_state(np.zeros(4, np.int32), np.zeros((3, 7)))


def test_keras_concordance_correlation_is_not_the_dataset_ccc():
    """The DESIGN.md trap, pinned: Keras's metric works along axis=-1, ours over frames."""
    t = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], np.float32)
    p = t + np.array([0.0, 0.5], np.float32)
    ours = M.ConcordanceCC()
    ours.update_state(t, p)
    want = np.mean([audmetric.concordance_cc(t[:, j], p[:, j]) for j in range(2)])
    assert float(ours.result()) == pytest.approx(want, abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.metrics.ConcordanceCorrelation()
        theirs.update_state(t, p)
    assert abs(float(theirs.result()) - want) > 0.05


# ---- several replicas (tf.distribute) ---------------------------------------------------------

TWO_REPLICAS_SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]  # before TensorFlow initialises its devices
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfaffect import metrics as M

CASES = {  # name: metric factory
    "ccc": M.ConcordanceCC, "ccc_valence": lambda: M.ConcordanceCC(dim=0), "pcc": M.PearsonCC,
    "icc": M.IntraclassCC, "mse": M.MeanSquaredErrorPerDim, "rmse": M.RootMeanSquaredErrorPerDim,
}


def run(strategy, t, p, w, global_batch):
    with strategy.scope():
        metrics = {name: make() for name, make in CASES.items()}
    data = tf.data.Dataset.from_tensor_slices((t, p, w)).batch(global_batch)

    @tf.function
    def step(batch):
        def update(t, p, w):
            for metric in metrics.values():
                metric.update_state(t, p, w)
        strategy.run(update, args=batch)

    for batch in strategy.experimental_distribute_dataset(data):
        step(batch)
    return {name: float(metric.result()) for name, metric in metrics.items()}, strategy.num_replicas_in_sync


rng = np.random.default_rng(int(sys.argv[1]))
n = 100  # 6 global batches of 16 (8 per replica) and a last one of 4 (2 per replica)
t = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
p = (0.6 * t + 0.2 + rng.normal(0, 0.3, t.shape)).astype(np.float32)
w = (rng.random(n) > 0.3).astype(np.float32)
t[w == 0] = np.nan  # invalid labels, as the importers write them
one_side = w.copy()
batch_size = np.minimum(16, n - np.arange(n) // 16 * 16)
one_side[np.arange(n) % 16 >= batch_size // 2] = 0  # the second replica's half of every batch: masked
out = {}
for name, weights in (("both", w), ("one_replica_has_frames", one_side)):
    two, replicas = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), t, p, weights, 16)
    one, _ = run(tf.distribute.get_strategy(), t, p, weights, 16)
    keep = weights > 0
    plain = {"ccc": float(M.ccc(t, p, keep).mean()), "ccc_valence": float(M.ccc(t, p, keep)[0]),
             "pcc": float(M.pcc(t, p, keep).mean()), "icc": float(M.icc_3_1(t, p, keep).mean()),
             "mse": float(M.mse(t, p, keep).mean()), "rmse": float(M.rmse(t, p, keep).mean())}
    out[name] = {"replicas": replicas, "two": two, "one": one, "plain": plain}
print(json.dumps(out))
'''


@pytest.mark.parametrize("seed", [11])
def test_moment_metrics_under_two_replicas_equal_one_replica(seed, tmp_path):
    """MirroredStrategy over 2 logical CPUs sums each metric variable across the replicas: the
    moment metrics read then must equal one replica streaming the same frames (and the plain
    functions). In a subprocess: the logical devices must be set before TensorFlow initialises.
    Tolerance: the two-replica value comes from float32 power sums of values in [-1, 1] (module
    docstring: relative error about 1e-6), the one-replica value from Chan's update."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
           "KERAS_HOME": str(tmp_path / "keras_home")}
    proc = subprocess.run([sys.executable, "-c", TWO_REPLICAS_SCRIPT, str(seed)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for case, values in result.items():
        assert values["replicas"] == 2, case
        for name, one in values["one"].items():
            assert one == pytest.approx(values["plain"][name], rel=5e-6, abs=1e-6), (case, name)
            assert values["two"][name] == pytest.approx(one, rel=1e-5, abs=1e-6), (case, name)
