"""Shared by the export and conversion tests: run ``export_load_check.py`` in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

LOAD_CHECK = Path(__file__).parent / "export_load_check.py"


def load_in_fresh_process(root: Path, jobs: list[dict]) -> dict:
    """Run export_load_check.py on ``jobs`` (written to ``root/job.json``); return its JSON report.

    Each job is ``{"saved_model": DIR, "inputs": IN.npz, "outputs": OUT.npz}`` (see that script).
    The process imports TensorFlow and NumPy only; tfaffect and keras are refused there.
    """
    (root / "job.json").write_text(json.dumps(jobs))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(LOAD_CHECK), str(root / "job.json")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
