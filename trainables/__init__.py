"""PyTorch trainables. Importing the package registers the built-ins (cheaply: no torch yet)."""

from trainables import builtin  # noqa: F401
