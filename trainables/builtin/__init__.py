"""The built-in trainables, one module per family. Every module here is imported, so a new
built-in is one file: it registers itself with ``trainables.registry`` when imported."""

from tune_jobs.core.registry import import_members

import_members(__name__, __path__)
