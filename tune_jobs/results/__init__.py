"""Results of a job: Parquet files and ``job.json`` under ``<storage>/<name>/``; no Ray here."""
