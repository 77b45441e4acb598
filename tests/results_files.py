"""Reading a job's iterations in tests, while it runs (part files) or after (one file)."""

from pathlib import Path

import pandas as pd


def rows_of(results_dir: Path) -> pd.DataFrame:
    from tune_jobs.results.iteration_log import read_iterations
    from tune_jobs.results.store import ResultsStore

    if not Path(results_dir).exists():
        return pd.DataFrame()
    return read_iterations(ResultsStore(str(results_dir))).to_pandas()


def sigkill_driver(driver, results_dir: Path) -> pd.DataFrame:
    """SIGKILL the driver only (no cleanup, no final flush), then the embedded Ray it leaves
    behind; the iterations it had written."""
    import contextlib
    import os
    import signal

    try:
        os.kill(driver.pid, signal.SIGKILL)
        assert driver.wait(timeout=30) == -signal.SIGKILL, "the job ended before it could be killed"
        return rows_of(results_dir)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the orphaned embedded Ray of the killed driver
            os.killpg(driver.pid, signal.SIGKILL)
