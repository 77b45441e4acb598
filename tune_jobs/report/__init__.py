"""``tune-jobs report``: one self-contained HTML page (charts embedded as PNG) from a job's Parquet files."""
