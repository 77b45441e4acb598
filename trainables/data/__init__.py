"""Datasets the built-ins train on: splits (train / validation / test), vision, text, seq2seq."""
