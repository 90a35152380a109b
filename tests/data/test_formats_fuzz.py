"""Property-based tests: every annotation parser, fed arbitrary bytes or near-valid text, returns a clean
result or raises AnnotationError naming the file, nothing else."""

import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats import _common, affwild, affwild2, afew_va, recola, sewa
from tfaffect.errors import AnnotationError

# database=None: no example database under the working tree (tests write only under tmp_path)
SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

ALPHABET = "0123456789-+.,;eE \n\r\t?@{}[]\":/_ajpgxyAUframe"
VALUE = st.one_of(st.floats(-1.2, 1.2).map(lambda x: f"{x:.4g}"), st.sampled_from(["-5", "-1", "0", "1", "1.0"]))
INT = st.integers(-2, 8).map(str)


def table(header: str | None, row, min_size=1, max_size=8):
    """A header line (if any) and 1..8 rows drawn from ``row``."""
    body = st.lists(row, min_size=min_size, max_size=max_size).map("\n".join)
    return body if header is None else body.map(lambda b: header + "\n" + b)


def joined(field, n: int, sep: str = ","):
    return st.lists(field, min_size=n, max_size=n).map(sep.join)


def timed_rows(make_row):
    """Rows with increasing times 0.0, 0.1, ... (the valid case) built by ``make_row(time, values)``."""
    return st.lists(joined(VALUE, 3, ";"), min_size=1, max_size=8).map(
        lambda rows: "\n".join(make_row(f"{0.1 * i:.2f}", r) for i, r in enumerate(rows)))


LANDMARK_HEADER = ",".join(f"{a}{k}" for k in range(68) for a in "xy")
MTL_ROW = st.builds(lambda v, i, va, e, aus: f"{v}/{i:05d}.jpg,{va},{e},{aus}",
                    st.sampled_from(["v", "v_left", "w"]),
                    st.integers(0, 6), joined(VALUE, 2), INT, joined(st.sampled_from(["-1", "0", "1", "2"]), 12))
ARFF_HEAD = ("@relation GoldStandard\n% comment\n@attribute Instance_name string\n@attribute frameTime numeric\n"
             "@attribute GoldStandard numeric\n\n@data\n")
FRAME = st.fixed_dictionaries(
    {"valence": st.one_of(st.integers(-11, 11), st.floats(-11, 11), st.none(), st.text(max_size=2), st.integers(),
                          st.floats(), st.booleans()),
     "arousal": st.integers(-11, 11)},
    optional={"landmarks": st.one_of(st.lists(st.lists(st.integers(0, 200), min_size=2, max_size=2), min_size=68,
                                              max_size=68), st.lists(st.integers(), max_size=3), st.none())})
FRAME_ID = st.one_of(st.integers(0, 99999).map(lambda i: f"{i:05d}"), st.text(max_size=7))

VALID = {
    "affwild.read_values": table(None, VALUE),
    "affwild2.read_va": table("valence,arousal", joined(VALUE, 2)),
    "affwild2.read_expr": st.sampled_from([7, 8]).flatmap(
        lambda n: table(",".join((EXPRESSIONS_7 + ("Other",))[:n]), INT)),
    "affwild2.read_au": table("AU1,AU2,AU4", joined(st.sampled_from(["-1", "0", "1", "2", "0.5"]), 3)),
    "affwild2.read_landmarks": table(LANDMARK_HEADER, st.one_of(st.just(",".join(["-1"] * 136)), st.builds(
        lambda start, step: ",".join(f"{start + k * step:g}" for k in range(136)), st.integers(-1, 300),
        st.floats(-1, 2)))),
    "affwild2.read_multitask": table("image,valence,arousal,expression,aus", MTL_ROW),
    "sewa.read_avec2017": st.sampled_from(["name;time;arousal;valence;liking\n", ""]).flatmap(
        lambda h: timed_rows(lambda t, r: f"'Train_01';{t};{r}").map(lambda b: h + b)),
    "sewa.read_sewadb": st.integers(0, 1).flatmap(lambda start: st.lists(VALUE, min_size=1, max_size=8).map(
        lambda vs: "frame,valence\n" + "\n".join(f"{start + i},{v}" for i, v in enumerate(vs)))),
    "recola.read_arff": st.lists(st.one_of(VALUE, st.just("?")), min_size=1, max_size=8).map(
        lambda vs: ARFF_HEAD + "\n".join(f"train_1,{0.04 * i:.2f},{v}" for i, v in enumerate(vs))),
    "_common.read_subject_map": table("clip,subject", st.builds(lambda c, s: f"{c},{s}", st.sampled_from(
        ["001", "002", "003", ""]), st.sampled_from(["A", "B", ""]))),
    "afew_va.read_clip_json": st.dictionaries(FRAME_ID, FRAME, max_size=4).map(
        lambda f: json.dumps({"frames": f})),
}


@st.composite
def mutated(draw, valid):
    """A valid file, then zero to three edits: delete, insert or replace a character, or cut the file."""
    text = draw(valid)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        position = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(ALPHABET))
        if kind == "delete":
            text = text[:position] + text[position + 1:]
        elif kind == "insert":
            text = text[:position] + char + text[position:]
        elif kind == "replace":
            text = text[:position] + char + text[position + 1:]
        else:
            text = text[:position]
    return text


def check_va(result):
    valence, arousal = result
    assert valence.shape == arousal.shape and len(valence) > 0
    for values in (valence, arousal):
        finite = values[np.isfinite(values)]
        assert ((finite >= -1) & (finite <= 1)).all()


def check_expr(result):
    labels, classes = result
    assert classes in (EXPRESSIONS_7, EXPRESSIONS_7 + ("Other",))
    assert ((labels >= -1) & (labels < len(classes))).all() and len(labels) > 0


def check_au(result):
    aus, names = result
    assert aus.shape == (len(aus), len(names)) and len(aus) > 0 and np.isin(aus, (-1, 0, 1)).all()


def check_landmarks(result):
    assert result.shape[1:] == (68, 2) and len(result) > 0


def check_multitask(result):
    for entry in result.values():
        assert (entry["frames"] >= 1).all() and len(set(entry["frames"])) == len(entry["frames"])
        assert entry["aus"].shape == (len(entry["frames"]), len(entry["au_names"]))


def check_values(result):
    assert len(result) > 0 and ((result >= -1) & (result <= 1)).all()


def check_timed(result):
    times, values = result
    assert len(times) == len(values) > 0 and (np.diff(times) > 0).all()
    finite = values[np.isfinite(values)]
    assert ((finite >= -1) & (finite <= 1)).all()


def check_sewadb(result):
    assert (np.diff(result[:, 0]) == 1).all() and (np.abs(result[:, 1]) <= 1).all()


def check_json(result):
    for frame, item in result.items():
        assert 0 <= frame <= 99999 and -10 <= item["valence"] <= 10 and -10 <= item["arousal"] <= 10
        assert item["landmarks"] is None or item["landmarks"].shape == (68, 2)


def check_subjects(result):
    assert result and all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


TEXT_PARSERS = {
    "affwild.read_values": (affwild.read_values, check_values),
    "affwild2.read_va": (affwild2.read_va, check_va),
    "affwild2.read_expr": (affwild2.read_expr, check_expr),
    "affwild2.read_au": (affwild2.read_au, check_au),
    "affwild2.read_landmarks": (affwild2.read_landmarks, check_landmarks),
    "affwild2.read_multitask": (affwild2.read_multitask, check_multitask),
    "sewa.read_avec2017": (sewa.read_avec2017, check_timed),
    "sewa.read_sewadb": (sewa.read_sewadb, check_sewadb),
    "recola.read_arff": (recola.read_arff, check_timed),
    "_common.read_subject_map": (_common.read_subject_map, check_subjects),
    "afew_va.read_clip_json": (afew_va.read_clip_json, check_json),
}


def _run(parser, check, path, data: bytes):
    path.write_bytes(data)
    try:
        result = parser(path)
    except AnnotationError as exc:
        assert exc.path == str(path)
        assert exc.line is None or exc.line >= 1
        return
    check(result)


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path, name, data):
    parser, check = TEXT_PARSERS[name]
    _run(parser, check, tmp_path / "annotation.txt", data)


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
@SETTINGS
@given(data=st.data())
def test_valid_and_mutated_files(tmp_path, name, data):
    parser, check = TEXT_PARSERS[name]
    text = data.draw(st.one_of(VALID[name], mutated(VALID[name]), st.text(max_size=100)))
    _run(parser, check, tmp_path / "annotation.txt", text.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None, database=None)
@given(table=st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=3, max_size=3),
                      min_size=1, max_size=20))
def test_parse_numbers_round_trips_python_float_text(table):
    lines = [",".join(repr(v) for v in row) for row in table]
    np.testing.assert_array_equal(_common.parse_numbers(lines, "f", ncols=3, first_line=1), np.array(table))


@settings(max_examples=200, deadline=None, database=None)
@given(steps=st.lists(st.integers(1, 4), min_size=1, max_size=12), values=st.data(),
       frames=st.lists(st.integers(-4, 60), max_size=20))
def test_nearest_resample_matches_brute_force(steps, values, frames):
    times = np.cumsum(steps) / 2.0  # halves: midpoints between ratings are exact
    vals = np.array(values.draw(st.lists(st.floats(-1, 1), min_size=len(times), max_size=len(times))))
    frame_times = np.array(frames, np.float64) / 4.0
    out = _common.nearest_resample(times, vals, frame_times)
    for t, got in zip(frame_times, out):
        distance = np.abs(times - t)
        expected = vals[distance == distance.min()].mean()
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)


# An independent statement of the number grammar (decimal, optional sign and exponent, blanks around).
REFERENCE_NUMBER = r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t]*"


@settings(max_examples=300, deadline=None, database=None)
@given(lines=st.lists(st.text("0123456789eE+-. \t,x_", max_size=12), min_size=1, max_size=6),
       ncols=st.integers(1, 3))
def test_parse_numbers_accepts_exactly_the_grammar(lines, ncols):
    """The fast path (character class + float()) agrees with a line-by-line regular-expression reference."""
    row = re.compile(",".join([REFERENCE_NUMBER] * ncols))
    first_bad = next((i for i, line in enumerate(lines) if not row.fullmatch(line)), None)
    try:
        values = _common.parse_numbers(lines, "f", ncols=ncols, first_line=1)
    except AnnotationError as exc:
        if first_bad is None:  # only a huge exponent may fail a grammatical table
            assert "floating-point range" in exc.reason
        else:
            assert exc.line == first_bad + 1
        return
    assert first_bad is None
    expected = [[float(field) for field in line.split(",")] for line in lines]
    np.testing.assert_array_equal(values, expected)
