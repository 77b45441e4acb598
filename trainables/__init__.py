"""PyTorch trainables. Importing the package registers the built-ins (cheaply: no torch yet)."""

from trainables import byo, digits_cnn, digits_mlp, lightning, seq2seq, tabular, text, vision  # noqa: F401
