"""A quiet, fast command line (issue #14 item 9): every command's --help without TensorFlow, help texts without
doubled defaults, TensorFlow's log lines silenced unless --verbose, recipe help with row choices and SynthAffect
values, `report` naming runs without a published row.

Nothing here asserts on time (DESIGN.md: performance is measured, not asserted); the help subprocess prints
how long each parser took, for the record.
"""

import json
import subprocess
import sys
import time

import pytest

from tfaffect import cli

HELP_SCRIPT = r"""
import json, sys, time
start = time.perf_counter()
from tfaffect import cli
texts, seconds = {}, {}
for name in cli.COMMANDS:
    begin = time.perf_counter()
    texts[name] = cli.build_command_parser(name).format_help()
    seconds[name] = round(time.perf_counter() - begin, 3)
print(json.dumps({"texts": texts, "seconds": seconds, "total": round(time.perf_counter() - start, 3),
                  "loaded": sorted(m for m in ("tensorflow", "keras", "tfaffect.metrics", "mtcnn")
                                   if m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def helps():
    out = subprocess.run([sys.executable, "-c", HELP_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_command_builds_its_help_without_tensorflow(helps):
    assert set(helps["texts"]) == set(cli.COMMANDS)
    assert helps["loaded"] == [], helps["loaded"]
    print(f"parsers built in {helps['total']} s: {helps['seconds']}")


def test_help_texts_have_no_doubled_or_empty_defaults(helps):
    for name, text in helps["texts"].items():
        flat = " ".join(text.split())
        assert "(default: None)" not in flat, name
        for option_help in flat.split(" --"):
            assert option_help.count("(default:") <= 1, (name, option_help)
    predict = " ".join(helps["texts"]["predict"].split())
    usage = predict.split("positional arguments")[0]
    assert "--model MODEL" in usage and "[--model MODEL]" not in usage  # shown as required
    assert "INPUT [INPUT ...]" in usage and "--max-faces N" in predict and "{csv,json,parquet}" in predict
    assert "(default: 8)" in predict  # an ordinary default is still shown once


def test_command_without_its_required_option_names_it_with_its_help(capsys):
    assert cli.main(["predict", "clip.mp4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfaffect predict: error: the following arguments are required: --model (--model: a "
                          "trained model")
    assert "\n" not in err


def test_a_tensorflow_command_prints_no_tensorflow_log_lines(tmp_path):
    """`export` imports TensorFlow before it looks at its arguments' files: without --verbose, stderr holds the
    one error line and nothing of TensorFlow's start-up (oneDNN, CUDA, cuInit lines)."""
    command = [sys.executable, "-m", "tfaffect", "export", "--model", str(tmp_path / "missing.keras"), "--out",
               str(tmp_path / "x")]
    env = {key: value for key, value in __import__("os").environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert quiet.returncode == 1
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tfaffect export: error: ") and "missing.keras" in lines[0], \
        quiet.stderr
    verbose = subprocess.run(command + ["--verbose"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                             env=env)
    assert verbose.returncode == 1 and "missing.keras" in verbose.stderr.splitlines()[-1]


def test_importing_tfaffect_and_its_api_names_is_cheap():
    code = ("import sys, tfaffect\n"
            "names = [tfaffect.predict, tfaffect.load_model, tfaffect.stream]\n"
            "print(callable(tfaffect.predict), 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "False", "False"], out.stderr


def test_recipe_help_lists_row_choices_and_the_values_a_synthaffect_run_uses():
    from tfaffect.training import registry
    from tfaffect.training.options import argument_parser

    stat = " ".join(argument_parser(registry.find("stat_lstm")).format_help().split())
    assert "--row ROW" in stat and "choices: 'model 4', 'model 1', 'model 2', 'model 3'" in stat
    affwildnet = " ".join(argument_parser(registry.find("affwildnet")).format_help().split())
    assert "(default: 0.001) [SynthAffect: 0.0001]" in affwildnet  # learning rate: published, then the demo's
    assert "[SynthAffect: X]: what a run without --data uses" in affwildnet


def test_report_says_which_runs_reproduce_no_published_row(tmp_path, capsys):
    run = tmp_path / "runs" / "mine" / "20240101"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"recipe": "mine", "final": {"val_ccc_valence": 0.25},
                                                  "evaluation": {"ccc_valence": 0.3, "ccc_arousal": 0.2}}))
    assert cli.main(["report", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Note: 1 run reproduces no published row, so no table shows it; the tables hold the "
                          "published numbers only:")
    assert f"- {run} (recipe mine): ccc_valence 0.300, ccc_arousal 0.200" in out
    assert "### " in out  # the published tables follow


def test_help_is_fast_enough_to_print_here(helps):
    """Not an assertion on time: the figure is printed for the report (issue #14: under 1 s)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tfaffect", "predict", "--help"], capture_output=True, text=True,
                         timeout=120)
    print(f"tfaffect predict --help: {time.perf_counter() - start:.2f} s wall (Python start-up included)")
    assert out.returncode == 0 and "--max-faces" in out.stdout


def test_constants_stated_twice_agree():
    """Values written out where importing their home would load Keras (convert, for --help) or form a layer
    cycle (the crop description's predict settings) equal their sources."""
    from tfaffect import predict
    from tfaffect.convert import affwildnet_tf1
    from tfaffect.data.faces import crop_description
    from tfaffect.models.affwild import DEFAULT_IMAGE_SIZE

    assert affwildnet_tf1.DEFAULT_IMAGE_SIZE == DEFAULT_IMAGE_SIZE
    facts = crop_description(96)
    assert f"at most {predict.DETECT_MAX_SIDE} px" in facts["detector"]
    assert f"every {predict.DETECT_EVERY} frames" in facts["detector"]


def test_a_recipe_file_run_as_a_script_prints_no_tensorflow_log_lines():
    """`python recipes/NAME.py` imports Keras through the recipe's own imports: `quiet_start(__name__)`, the file's
    first statement, silences TensorFlow's start-up as the commands do; TF_CPP_MIN_LOG_LEVEL=0 keeps it (which
    shows this check would see the lines)."""
    from tfaffect.training import registry

    script = registry.recipes_dir() / "cnn_m_baseline.py"
    env = {key: value for key, value in __import__("os").environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                           env=env)
    assert quiet.returncode == 0 and "--backbone-weights" in quiet.stdout
    assert quiet.stderr.strip() == "", quiet.stderr
    loud = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0 and "oneDNN" in loud.stderr


SPAWNING_SCRIPT = """
from tfaffect.launch import quiet_start

quiet_start(__name__)

import multiprocessing

import tensorflow


def child():
    return tensorflow.__version__


if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        print(pool.apply(child))
"""


def test_a_recipe_scripts_spawned_workers_print_no_tensorflow_log_lines(tmp_path):
    """SynthAffect renders in processes that multiprocessing's spawn starts; each re-imports the script as
    `__mp_main__` (and with it TensorFlow): quiet_start quiets them too. Measured before: each worker printed
    TensorFlow's `cudart_stub` lines."""
    script = tmp_path / "spawning.py"
    script.write_text(SPAWNING_SCRIPT)
    env = {key: value for key, value in __import__("os").environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip(), run.stderr
    assert run.stderr.strip() == "", run.stderr


def test_every_recipe_file_starts_quiet():
    """Each recipe file's first statement after its docstring is `from tfaffect.launch import main, quiet_start`
    and its second `quiet_start(__name__)`, before anything loads Keras."""
    import ast

    from tfaffect.training import registry

    for path in sorted(registry.recipes_dir().glob("*.py")):
        body = ast.parse(path.read_text()).body
        first, second = body[1], body[2]
        assert isinstance(first, ast.ImportFrom) and first.module == "tfaffect.launch", path.name
        assert ast.unparse(second) == "quiet_start(__name__)", path.name
