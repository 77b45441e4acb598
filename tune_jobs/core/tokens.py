"""The environment variables that carry a Ray token: the spec refuses them in ``env`` and a
submission never sends them in a job's ``env_vars`` (a token is never written down or logged)."""

TOKEN_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
