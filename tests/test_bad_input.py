"""Every bad input a user can give is one line naming the field (or the file and line) and the
problem, exit code 2, no traceback, before Ray starts. One row per case."""

import sys

import pytest
import yaml
from typer.testing import CliRunner

from tune_jobs.cli import app

GOOD = {"name": "bad", "trainable": "badpkg.fine:train", "metric": "s", "mode": "max",
        "space": {"x": {"uniform": [0.0, 1.0]}}}


def write(tmp_path, name, content):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


CASES = {
    "not UTF-8": (lambda t: write(t, "job.yaml", b"name: bad\n\xff\xfe\x00binary"), [],
                  "job.yaml: not UTF-8 text (byte 0xff at offset 10); a job spec is a YAML file"),
    "a directory": (lambda t: (t / "adir").mkdir() or t / "adir", [], "adir: is a directory; give the job spec's YAML file"),
    "duplicate key": (lambda t: write(t, "job.yaml", yaml.safe_dump(GOOD) + "name: again\n"), [],
                      "job.yaml:10: duplicate key 'name' at line 10 (first at line 3)"),
    "boolean epochs": (None, ["config.epochs=true", "trainable=digits_mlp", "metric=val_accuracy",
                              "space={lr: {loguniform: [1e-4, 1e-1]}}"],
                       "config.epochs: true not accepted: input should be a valid integer"),
    "boolean samples": (None, ["search.num_samples=true"], "search.num_samples: input should be a valid integer, got true"),
    "boolean bound": (None, ["space.x={uniform: [false, 1]}"], "space.x.uniform[0]: input should be a valid number, got false"),
    "boolean cpus": (None, ["resources.cpu=true"], "resources.cpu: input should be a valid number, got true"),
    "syntax error in the user's module": (None, ["trainable=badpkg.broken:train"],
                                          "trainable: cannot import 'badpkg.broken': SyntaxError: '(' was never closed "
                                          "({root}/badpkg/broken.py:2)"),
    "exception in the user's module": (None, ["trainable=badpkg.raises:train"],
                                       "trainable: cannot import 'badpkg.raises': RuntimeError: no data here "
                                       "({root}/badpkg/raises.py:1)"),
    "missing module": (None, ["trainable=badpkg.absent:train"],
                       "trainable: cannot import 'badpkg.absent': No module named 'badpkg.absent'"),
    "storage is a file": (None, ["storage=afile"], "storage: afile is a file, not a directory, got 'afile'"),
    "storage under a file": (None, ["storage=afile/results"], "storage: cannot create it: afile is a file, got 'afile/results'"),
    "results directory is a file": (None, ["storage=store"], "name: {root}/store/bad is a file; the job's results go in a "
                                                             "directory of that name"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_is_one_line_and_exit_2(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == "badpkg" or m.startswith("badpkg.")]:
        monkeypatch.delitem(sys.modules, name)  # each case has its own copy of the package
    write(tmp_path, "badpkg/__init__.py", "")
    write(tmp_path, "badpkg/fine.py", "def train(config, report):\n    report({'s': 1.0})\n")
    write(tmp_path, "badpkg/broken.py", "def train(config, report):\n    x = (\n")
    write(tmp_path, "badpkg/raises.py", "raise RuntimeError('no data here')\n")
    write(tmp_path, "afile", "not a directory")
    write(tmp_path, "store/bad", "a file where the job's results would go")
    make, overrides, expected = CASES[case]
    spec = make(tmp_path) if make else write(tmp_path, "job.yaml", yaml.safe_dump(GOOD))
    args = ["validate", str(spec.relative_to(tmp_path))]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [expected.format(root=tmp_path)]
    assert "Traceback" not in result.output


def test_trainables_lists_the_shared_loop_keys_once_and_shows_one_trainable_in_full():
    from typer.testing import CliRunner

    from tune_jobs.cli import app

    listing = CliRunner().invoke(app, ["trainables"])
    assert listing.exit_code == 0 and listing.output.count("weight_decay=") == 1  # once, not per trainable
    assert max(len(line) for line in listing.output.splitlines() if "shared training-loop keys" not in line) < 200
    one = CliRunner().invoke(app, ["trainables", "digits_mlp"])
    assert one.exit_code == 0 and "  hidden = 128" in one.output and "  weight_decay = " in one.output
    typo = CliRunner().invoke(app, ["trainables", "digits_mpl"])
    assert typo.exit_code == 2 and "did you mean 'digits_mlp'?" in typo.output
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("tune-jobs ")


def test_an_example_run_from_another_directory_says_where_modules_are_imported_from(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "my_trainable.yaml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "validate", str(example)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"trainable: cannot import 'examples.my_trainable': No module named 'examples' (modules are imported from the "
        f"working directory, {tmp_path}: run from the directory that holds examples/ or examples.py, or add that "
        "directory to PYTHONPATH)")
