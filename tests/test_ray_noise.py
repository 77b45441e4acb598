"""What of Ray's own logging reaches a user's terminal on a normal run."""

import logging

from tune_jobs.ray_tune.cluster import _not_a_transient_state_sync_error


def _record(message, error):
    exc_info = (type(error), error, None) if error else None
    return logging.LogRecord("ray.tune.execution.experiment_state", logging.ERROR, __file__, 1, message, (), exc_info)


def test_a_sync_that_lost_the_searchers_renamed_temporary_file_is_not_shown():
    gone = FileNotFoundError(2, "Failed to open local file '/tmp/x/.5f0c-tmp-searcher-state-2026.pkl'")
    assert not _not_a_transient_state_sync_error(_record("Saving experiment state to storage at '/r' failed", gone))
    # any other failure to save the state is still shown
    full = OSError(28, "No space left on device")
    assert _not_a_transient_state_sync_error(_record("Saving experiment state to storage at '/r' failed", full))
    assert _not_a_transient_state_sync_error(_record("Trial t1 errored", gone))
