# %% [markdown]
# # tune-jobs from Python
# Cells (`# %%`) for Jupyter or VS Code; also runs as a script: `python examples/notebook.py`.
# Everything here runs on the CPU in about a minute, on data that ships with scikit-learn.

# %%
import tune_jobs

# The quickstart job with fewer trials: overrides use `__` for the dots of `--set`.
result = tune_jobs.run("examples/digits_mlp.yaml", name="digits-mlp-notebook", search__num_samples=3,
                       config__epochs=6, restart=True)
print(result)
print(result.best)

# %%
# Every iteration of every trial, as pandas; the best trial's curve.
curve = result.history(result.best.trial_id)[["training_iteration", "val_loss", "val_accuracy"]]
print(curve.to_string(index=False))

# %%
# Your own training function, defined in the notebook: no module path, no registration.
def train(config, report):
    loss = 1.0
    for epoch in range(8):
        loss = loss * (1 - config["lr"]) + 0.1 * (config["lr"] - 0.3) ** 2
        report({"loss": loss, "epoch": epoch})


mine = tune_jobs.run({"name": "notebook-own-function", "trainable": train, "metric": "loss", "mode": "min",
                      "space": {"lr": {"loguniform": [1e-3, 0.9]}}, "search": {"num_samples": 6, "seed": 0}},
                     restart=True)
print(mine.best)

# %%
# Later, or elsewhere: load a job's results, write its report, narrow the space for a follow-up.
earlier = tune_jobs.load(result.directory)
print("report:", earlier.report())
