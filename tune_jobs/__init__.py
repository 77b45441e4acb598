"""tune-jobs: hyperparameter tuning of PyTorch models on Ray Tune, from one YAML job spec."""

__version__ = "0.1.0"
