"""The two kinds of error a user sees as lines (the CLI prints them and exits 2; the API raises
them), never as a traceback.

``SpecError``: what the user wrote is wrong (a job spec's field, a command's argument); each line
names the field and the value. ``UserError``: the input is fine but the world is not as it needs
(the storage refuses us, the job is already running, the cluster is unreachable, a results
directory holds no successful trial); each line says what and where. A ``SpecError`` is a
``UserError``, so catching the latter catches both.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix, not a bug: one or more lines, each saying what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SpecError(UserError):
    """Bad input: one or more lines, each naming the field and the value."""
