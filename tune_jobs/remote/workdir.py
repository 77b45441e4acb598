"""What a submitted job ships: the directory it is submitted from (the spec and the user's code),
without results, virtualenvs, caches or VCS data, checked against Ray's upload limit before any
upload. Patterns are gitignore-style, matched as Ray matches its ``excludes``; the root
``.gitignore``/``.rayignore``, which Ray also honours, are applied too.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from pathspec import PathSpec

from tune_jobs.errors import SpecError, UserError

DEFAULT_EXCLUDES = [
    ".git/", ".hg/", ".venv/", "venv/", "env/", "__pycache__/", "*.pyc", ".mypy_cache/", ".pytest_cache/",
    ".ruff_cache/", ".ipynb_checkpoints/", "*.egg-info/", "node_modules/", "build/", "dist/", ".tox/",
]


@dataclass(frozen=True)
class WorkingDir:
    root: Path
    excludes: list[str]  # handed to Ray's runtime_env as is
    files: int
    size: int

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()


def _mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def plan_working_dir(root: Path, spec_path: Path, storage: str, extra_excludes: list[str], limit: int) -> WorkingDir:
    """The files to ship from ``root``; ``SpecError`` when the spec is outside it or it is too big."""
    root = root.resolve()
    try:
        spec_path.resolve().relative_to(root)
    except ValueError:
        raise SpecError([f"SPEC: {spec_path} is outside the directory being shipped ({root}); "
                         "run submit from a directory that contains it"]) from None
    excludes = [*DEFAULT_EXCLUDES, *extra_excludes]
    storage_path = Path(storage).expanduser()
    if "://" not in storage:
        with contextlib.suppress(ValueError):  # results never travel with the job (unless outside root)
            excludes.append("/" + (storage_path if storage_path.is_absolute() else (Path.cwd() / storage_path))
                            .resolve().relative_to(root).as_posix() + "/")
    ignore_lines = list(excludes)
    for name in (".gitignore", ".rayignore"):
        if (root / name).is_file():
            ignore_lines += (root / name).read_text().splitlines()
    spec = PathSpec.from_lines("gitwildmatch", ignore_lines)
    files, size = 0, 0
    biggest: dict[str, int] = {}
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = [d for d in dirnames if not spec.match_file((here / d).relative_to(root).as_posix() + "/")]
        for name in filenames:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if spec.match_file(relative) or not path.is_file():
                continue
            files += 1
            n = path.stat().st_size
            size += n
            top = relative.split("/", 1)[0]
            biggest[top] = biggest.get(top, 0) + n
    if size > limit:
        largest = ", ".join(f"{name} {_mib(n)}" for name, n in sorted(biggest.items(), key=lambda kv: -kv[1])[:3])
        raise UserError([f"working directory: {root} ships {_mib(size)} in {files} files, over Ray's upload limit of "
                         f"{_mib(limit)} (largest: {largest}); leave data out with --exclude PATTERN or .rayignore, "
                         "and read it from storage instead"])
    return WorkingDir(root, excludes, files, size)
