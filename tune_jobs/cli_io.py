"""What every command shares: the two consoles and the bad-input exit (one line per problem on
stderr, exit code 2, no traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from tune_jobs.errors import UserError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_table(table: Any) -> None:
    if not out.is_terminal:  # a pipe or a log: no terminal width to respect
        Console(width=240).print(table)
    else:
        out.print(table)


def fail_bad_input(error: UserError) -> NoReturn:
    for line in error.problems:
        err.print(line, markup=False, highlight=False)
    raise typer.Exit(2)


def load_or_exit(spec: Path, overrides: list[str] | None, storage: Path | None = None) -> Any:
    from tune_jobs.spec import load_spec

    extra = list(overrides or [])
    if storage is not None:
        extra.append(f"storage={storage}")
    notes: list[str] = []
    try:
        return load_spec(spec, extra, notes)
    except UserError as error:
        fail_bad_input(error)
    finally:
        for note in notes:
            err.print(note, highlight=False, markup=False)
