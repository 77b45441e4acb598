"""Ray's token (Ray >= 2.52 token authentication), found the way Ray finds it.

Ray's own job client only attaches the token when ``RAY_AUTH_MODE=token`` is set on the client
machine; a laptop usually does not set it, and a fresh ``ray start --head`` on Ray 2.60 then
answers ``InvalidAuthToken``. We always send the token when one is found. It travels in an HTTP
header only: never printed, logged, or put on a command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tune_jobs.errors import SpecError

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
            raise SpecError([f"RAY_AUTH_TOKEN_PATH: cannot read {path}: {error.strerror}"]) from None
        if not value:
            raise SpecError([f"RAY_AUTH_TOKEN_PATH: {path} is empty"])
        return Token(value, f"RAY_AUTH_TOKEN_PATH ({path})")
    path = DEFAULT_TOKEN_FILE.expanduser()
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return Token(value, str(DEFAULT_TOKEN_FILE))
    return None


MISSING_TOKEN = ("the cluster at {address} requires a Ray auth token and none was found: set RAY_AUTH_TOKEN, or "
                 "RAY_AUTH_TOKEN_PATH to a file holding it, or put it in ~/.ray/auth_token "
                 "(on the head node: `ray get-auth-token`)")
WRONG_TOKEN = "the cluster at {address} rejected the Ray auth token from {source}; is it this cluster's token?"
