"""Search spaces the searcher tests share."""

from tune_jobs.space import Choice, LogRandInt, LogUniform, RandInt, Uniform

MIXED = {  # every kind of key a tuned model has: log and plain floats, ints, a log int, a categorical
    "lr": LogUniform(loguniform=(1e-4, 1e-1)),
    "dropout": Uniform(uniform=(0.0, 0.5)),
    "layers": RandInt(randint=(1, 4)),
    "width": LogRandInt(lograndint=(16, 256)),
    "optimizer": Choice(choice=["sgd", "adam", "adamw"]),
}
