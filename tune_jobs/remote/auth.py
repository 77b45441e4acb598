"""What a submission says when the cluster wants Ray's token (found by ``core.tokens``).

Ray's own job client only attaches the token when ``RAY_AUTH_MODE=token`` is set on the client
machine; a laptop usually does not set it, and a fresh ``ray start --head`` on Ray 2.60 then
answers ``InvalidAuthToken``. We always send the token when one is found. It travels in an HTTP
header only: never printed, logged, or put on a command line.
"""

from __future__ import annotations

from tune_jobs.core.tokens import Token, find_token

MISSING_TOKEN = ("the cluster at {address} requires a Ray auth token and none was found: set RAY_AUTH_TOKEN, or "
                 "RAY_AUTH_TOKEN_PATH to a file holding it, or put it in ~/.ray/auth_token "
                 "(on the head node: `ray get-auth-token`)")
WRONG_TOKEN = "the cluster at {address} rejected the Ray auth token from {source}; is it this cluster's token?"

__all__ = ["MISSING_TOKEN", "WRONG_TOKEN", "Token", "find_token"]
