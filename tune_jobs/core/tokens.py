"""Ray's token (Ray >= 2.52 token authentication), found the way Ray finds it, and the
environment variables that carry it: the spec refuses them in ``env`` and a submission never
sends them in a job's ``env_vars``. A token is never written down, printed or logged."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tune_jobs.core.errors import UserError

TOKEN_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    source: str  # where it came from, safe to show

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}


def find_token() -> Token | None:
    """``RAY_AUTH_TOKEN``, else the file named by ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``."""
    value = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if value:
        return Token(value, "RAY_AUTH_TOKEN")
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if named:
        path = Path(named).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as error:
            raise UserError([f"RAY_AUTH_TOKEN_PATH: cannot read {path}: {error.strerror}"]) from None
        if not value:
            raise UserError([f"RAY_AUTH_TOKEN_PATH: {path} is empty"])
        return Token(value, f"RAY_AUTH_TOKEN_PATH ({path})")
    path = DEFAULT_TOKEN_FILE.expanduser()
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return Token(value, str(DEFAULT_TOKEN_FILE))
    return None

