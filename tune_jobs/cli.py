"""The ``tune-jobs`` command line. Bad input: one line per problem on stderr, exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from tune_jobs.cli_io import err, fail_bad_input, load_or_exit, out, print_table
from tune_jobs.errors import SpecError
from tune_jobs.space import show

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter tuning of PyTorch models on Ray Tune, from one YAML job spec.")
SpecArg = Annotated[Path, typer.Argument(help="The job spec (YAML).", show_default=False)]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dotted.key=value (YAML value).")]


@app.command()
def validate(spec: SpecArg, set_: SetOption = None) -> None:
    """Check a job spec completely without running anything."""
    job = load_or_exit(spec, set_)
    out.print(f"{spec}: valid ({job.trainable}, {job.search.algorithm} search, {job.search.trials} trials, "
              f"{job.scheduler.type} scheduler)", highlight=False)


@app.command()
def run(
    spec: SpecArg,
    address: Annotated[Optional[str], typer.Option(help="'auto' joins a cluster from `ray start --head`; "
                                                      "omit for an embedded local Ray.")] = None,
    storage: Annotated[Optional[Path], typer.Option(help="Results root (overrides the spec's storage).")] = None,
    set_: SetOption = None,
    restart: Annotated[bool, typer.Option(help="Replace existing results of this job.")] = False,
    num_cpus: Annotated[Optional[int], typer.Option(help="CPUs of the embedded Ray (default: all).")] = None,
    num_gpus: Annotated[Optional[int], typer.Option(help="GPUs of the embedded Ray (default: all visible).")] = None,
) -> None:
    """Run a tuning job and write every trial's history to Parquet."""
    job = load_or_exit(spec, set_, storage)
    from tune_jobs.runner import install_sigterm_as_interrupt, run_job

    install_sigterm_as_interrupt()
    err.print(f"job {job.name}: {job.trainable}, {job.search.algorithm} search, {job.search.trials} trials, "
              f"{job.scheduler.type} scheduler -> {job.results_dir}", highlight=False)
    try:
        outcome = run_job(job, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus, console=err)
    except SpecError as error:
        fail_bad_input(error)
    except KeyboardInterrupt:
        err.print(f"interrupted; results so far are in {job.results_dir}", highlight=False)
        raise typer.Exit(130) from None
    counts = ", ".join(f"{n} {status}" for status, n in outcome.counts.items() if n)
    out.print(f"trials: {counts or 'none'}", highlight=False)
    for message, n in sorted(outcome.errors.items(), key=lambda item: -item[1])[:5]:
        out.print(f"  failed x{n}: {message}", highlight=False, markup=False)
    if outcome.best is not None:
        config = {k: v for k, v in outcome.best.config.items() if k in job.space} or outcome.best.config
        shown = ", ".join(f"{k}={show(v)}" for k, v in config.items())
        out.print(f"best {job.metric}: {outcome.best.best:.6g} (trial {outcome.best.trial_id}: {shown})",
                  highlight=False, markup=False)
    out.print(f"results: {outcome.results_dir}/trials.parquet, iterations.parquet, job.json", highlight=False)
    raise typer.Exit(outcome.exit_code)


@app.command()
def results(
    directory: Annotated[str, typer.Argument(help="A job's results directory (<storage>/<name>), a path or a URI.")],
    top: Annotated[int, typer.Option(min=1, help="How many trials to show.")] = 10,
) -> None:
    """Show the best trials of a job."""
    from tune_jobs.results.reader import best_trials

    try:
        trials, metric, mode = best_trials(directory, top)
    except SpecError as error:
        fail_bad_input(error)
    config_columns = [c for c in trials.columns if c.startswith("config/")]
    columns = ["trial_id", "status", f"best_{metric}", "iterations", *config_columns]
    name = directory.split("?")[0].rstrip("/").rsplit("/", 1)[-1]  # a path or a URI with a query string
    table = Table(title=f"{name}: best {len(trials)} by {metric} ({mode})")
    headers = {f"best_{metric}": f"best {metric}", "iterations": "iters"}
    for column in columns:
        table.add_column(headers.get(column, column.removeprefix("config/")), no_wrap=True)
    for row in trials.to_dict("records"):
        table.add_row(*(_cell(row[c]) for c in columns))
    print_table(table)


def _cell(value: Any) -> str:
    if value is None or value != value:  # missing or NaN
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
def trainables() -> None:
    """List the registered trainables with their config keys, defaults and metrics."""
    import trainables as _builtins  # noqa: F401
    from trainables.registry import TRAINABLES

    for name, definition in TRAINABLES:
        out.print(f"[bold]{name}[/bold]: {definition.description}")
        metrics = ", ".join(f"{m} ({mode})" for m, mode in definition.metrics.items())
        out.print(f"  metrics: {metrics}", highlight=False)
        defaults = ", ".join(f"{k}={show(v)}" for k, v in definition.defaults().items())
        out.print(f"  config: {defaults}", highlight=False)


from tune_jobs.kubernetes.cli import k8s  # noqa: E402 (after the local commands, in --help too)
from tune_jobs.remote.cli import add_remote_commands  # noqa: E402

add_remote_commands(app)
app.command()(k8s)


def main() -> None:
    app(prog_name="tune-jobs")


if __name__ == "__main__":
    main()
