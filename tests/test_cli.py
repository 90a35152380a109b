import subprocess
import sys

import tfaffect
from tfaffect import cli


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tfaffect", *args], capture_output=True, text=True,
                          timeout=120)


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"tfaffect {tfaffect.__version__}"


def test_help_lists_every_command_without_loading_tensorflow():
    code = ("import sys; from tfaffect import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    for name in cli.COMMANDS:
        assert name in out.stdout
    assert "TF_NOT_LOADED" in out.stdout


def test_unknown_command_is_an_error():
    out = run_cli("no-such-command")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_missing_module_reports_not_implemented(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "phantom", ("tfaffect.no_such_module", "a phantom", 99))
    assert cli.main(["phantom"]) == 2
    assert "not implemented yet (planned in issue #99)" in capsys.readouterr().err


def test_missing_dependency_inside_a_module_is_not_hidden(monkeypatch, tmp_path, capsys):
    (tmp_path / "broken_cmd.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "broken", ("broken_cmd", "broken", 99))
    assert cli.main(["broken"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "a_dependency_that_is_not_installed" in err and "not implemented" not in err
