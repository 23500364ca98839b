"""``benchmarks/gpu_check.py`` runs end to end: its tiny mode, on the CPU, in a subprocess."""

from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_its_tests_and_prints_every_row():
    """The tiny mode runs one test and the phases that matter most; the rest read
    'skipped' (as every phase past ``--budget`` would)."""
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--mode", "tiny", "--budget", "600"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"tests \(tests/test_models.py::\S+\): 6 passed", out), out
    table = out[out.index("gpu_check table"):].splitlines()
    assert re.fullmatch(r"\s+batch 1", table[1])
    rows = {"train step, JAX conv_impl=auto (cpu)": "ms",
            "train step, JAX conv_impl=cpu": "ms",
            "train step, PyTorch eager (reference style)": "ms",
            "train step, torch.compile (reference style)": None,  # not in the tiny mode
            "7-loss objective, LossManager (jit)": "ms",
            "7-loss objective, hand-written (jit)": "ms",
            "7-loss objective, interop LossManager (eager torch)": "ms",
            "train(), --steps-per-dispatch 8": None}
    assert len(table) == 2 + len(rows)
    for line, (label, unit) in zip(table[2:], rows.items()):
        assert line.strip().startswith(label), line
        cell = line.strip()[len(label):].strip()
        if unit is None:
            assert cell == "skipped"
        else:
            value, got_unit = cell.split()
            assert float(value) > 0 and got_unit == unit, line
