"""Reading a job's iterations in tests, while it runs (part files) or after (one file)."""

from pathlib import Path

import pandas as pd


def rows_of(results_dir: Path) -> pd.DataFrame:
    from tune_jobs.results.iteration_log import read_iterations
    from tune_jobs.results.store import ResultsStore

    if not Path(results_dir).exists():
        return pd.DataFrame()
    return read_iterations(ResultsStore(str(results_dir))).to_pandas()
