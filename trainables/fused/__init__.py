"""Fused execution: many trials of one architecture trained together in one process, as one
stacked model (``torch.func``), each member with its own hyperparameters, data order, dropout
masks, optimizer state, metrics and checkpoint.

Three words, used everywhere (code, specs, results, README):

- **fuse**: the option (``execution.fuse: N``) and the act of training trials together.
- **stack**: one Ray trial holding up to N fused members (its trial id has no ``-``). Each epoch
  the members with equal ``stack_key`` train as one stacked model.
- **member**: a trial of the job inside a stack (trial id ``<stack>-<i>``): everywhere outside
  the stack (results, report, ``evaluate``) it is a trial like any other.

- ``optim``: the loop's optimizers over stacked parameters, every hyperparameter per member,
  exact (the same arithmetic as ``torch.optim``, checked against it in tests).
- ``stack``: which members can share a stack, and the stacked forward pass of an ``nn.Sequential``.
- ``members``: a member's state, its ``stack_key``, and one epoch for members sharing a key; their
  states go in and come out as the plain loop's checkpoints, so a member can leave, resume alone,
  or join another stack.
- ``run``: a stack as one trainable, for ``execution.fuse`` (``tune_jobs.ray_tune.fusion`` runs it).
"""

# Keys fused members may differ in: everything else (the model's shape, the data, the batch size,
# the optimizer) is shared by a stack. No torch import here: the job spec checks against it.
PER_MEMBER_KEYS = ("lr", "weight_decay", "momentum", "dropout", "label_smoothing", "seed", "schedule", "step_size", "gamma",
                   "warmup_epochs", "grad_clip", "epochs", "patience", "patience_metric")


def unfused_options(config: dict[str, object]) -> list[str]:
    """The loop options set in ``config`` that a stack does not implement, one line each: a job
    that sets them trains a process per trial rather than silently without them."""
    found = []
    if config.get("cv_folds"):
        found.append("config.cv_folds: cross-validation trains a model per fold inside each trial, which a stack "
                     "does not; set fuse: 1")
    if config.get("dynamics"):
        found.append("config.dynamics: training dynamics are measured by the plain loop only; set fuse: 1")
    return found
