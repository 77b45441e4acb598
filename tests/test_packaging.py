"""The package installs as users install it: every runtime import is a declared dependency, and
the wheel, installed without extras into a fresh virtualenv, imports and answers every command."""

import ast
import os
import re
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import typer

from tune_jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tune_jobs", "trainables")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# Modules that use an extra, importing it only when called (and saying in one line when it is
# missing): what the extra installs counts as declared for them, and only for them.
EXTRA_USERS = {"trainables/builtin/lightning.py": "lightning", "tune_jobs/results/listeners/mlflow_runs.py": "mlflow"}


def _names(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]) for requirement in requirements}


def declared_dependencies(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _names(project["dependencies"])
    if extra is not None:
        names = _names(project["optional-dependencies"][extra])
        declared |= names | {_normal(d.metadata["Name"]) for d in _requirement_closure(sorted(names))}
    return declared


def imported_top_level_modules() -> dict[str, str]:
    """Third-party top-level module -> one file of ours that imports it."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                         else [])
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PACKAGES:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_declared_dependency():
    distributions = metadata.packages_distributions()
    missing = []
    for module, where in imported_top_level_modules().items():
        providers = {_normal(d) for d in distributions.get(module, [])}
        if not providers & declared_dependencies(EXTRA_USERS.get(where)):
            missing.append(f"{module} (imported by {where}, provided by {sorted(providers) or 'nothing installed'})")
    assert not missing, "undeclared runtime imports: " + "; ".join(missing)


def _requirement_closure(names: list[str]) -> list[metadata.Distribution]:
    from packaging.markers import Marker

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if _normal(name) in seen:
            continue
        distribution = metadata.distribution(name)
        seen[_normal(name)] = distribution
        for requirement in distribution.requires or []:
            spec, _, marker = requirement.partition(";")
            if marker and ("extra" in marker or not Marker(marker).evaluate()):
                continue
            todo.append(re.split(r"[ <>=!~\[(]", spec.strip(), maxsplit=1)[0])
    return list(seen.values())


def _link_torch(site_packages: Path, into: Path) -> None:
    """Stand-in for ``pip install torch torchvision`` (several GB, as the Makefile does first):
    the test environment's own torch and what it requires, linked in through a .pth file."""
    into.mkdir()
    for distribution in _requirement_closure(["torch", "torchvision"]):
        base = Path(str(distribution.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}:
            if not (into / top).exists() and (base / top).exists():
                (into / top).symlink_to(base / top)
    (site_packages / "torch-linked.pth").write_text(str(into) + "\n")


@pytest.mark.slow
def test_the_wheel_installs_without_extras_in_a_fresh_virtualenv(tmp_path):
    # Nothing of the test session's own paths: PYTHONPATH would show pip and Python the source tree.
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist, source = tmp_path / "dist", tmp_path / "source"
    # From a copy without build outputs: setuptools reuses build/lib, where modules since moved or
    # deleted would still be, and end up in the wheel.
    def outputs(directory: str, names: list[str]) -> list[str]:
        top = Path(directory) == ROOT
        return [name for name in names if name in (".git", ".venv", "__pycache__") or name.endswith(".egg-info")
                or (name.startswith(".") and name.endswith("_cache")) or (top and name in ("build", "dist", "results", ".gpu"))]

    shutil.copytree(ROOT, source, ignore=outputs)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(dist)],
                   check=True, timeout=300, env=clean_env)
    wheel = next(dist.glob("tune_jobs-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True, env=clean_env).stdout.strip())
    _link_torch(site_packages, tmp_path / "torch-linked")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=900, env=clean_env)
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120, env=clean_env)
    assert check.returncode == 0, check.stdout + check.stderr

    work = tmp_path / "work"  # away from the repository, so nothing is imported from the source tree
    work.mkdir()
    every_module = (
        "import importlib, pkgutil, tune_jobs, trainables\n"
        "names = [m.name for p in (tune_jobs, trainables) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n"
        "[importlib.import_module(n) for n in names if not n.endswith('__main__')]\n"
        f"assert tune_jobs.__file__.startswith({str(site_packages)!r}), tune_jobs.__file__\n"
        "print(len(names))\n"
    )
    imported = subprocess.run([str(python), "-c", every_module], cwd=work, env=clean_env,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert int(imported.stdout.strip()) > 40

    tune_jobs = env_dir / "bin" / "tune-jobs"
    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"run", "validate", "submit", "report", "k8s", "status"} <= set(commands), commands
    for command in ["", *commands]:
        shown = subprocess.run([str(tune_jobs), *filter(None, [command]), "--help"], cwd=work, env=clean_env,
                               capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0 and "Usage" in shown.stdout, f"{command}: {shown.stderr[-2000:]}"

    (work / "job.yaml").write_text((ROOT / "examples" / "digits_mlp.yaml").read_text())
    valid = subprocess.run([str(tune_jobs), "validate", "job.yaml"], cwd=work, env=clean_env,
                           capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0 and "valid" in valid.stdout, valid.stderr
