"""Submitting jobs to a remote Ray cluster through its Job Submission API (``tune-jobs submit``).

``address``, ``auth`` and ``workdir`` check everything before a connection is made; ``jobs`` is
the only module here that talks to Ray.
"""
