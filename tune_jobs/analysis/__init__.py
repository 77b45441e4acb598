"""What a finished (or running) job's Parquet files say: importance, diagnosis, rungs, narrowing.

Pure pandas/scikit-learn/optuna over the results directory; no Ray, no torch.
"""
