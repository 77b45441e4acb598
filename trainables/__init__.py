"""PyTorch trainables. Importing the package registers the built-ins (cheaply: no torch yet)."""

from trainables import digits_cnn, digits_mlp  # noqa: F401
