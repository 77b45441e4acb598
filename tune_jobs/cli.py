"""The ``tune-jobs`` command line. Bad input: one line per problem on stderr, exit code 2."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from tune_jobs.cli_io import err, fail_bad_input, load_or_exit, out, print_table
from tune_jobs.core.values import best_of, cell, show
from tune_jobs.errors import SpecError, UserError
from tune_jobs.results.schema import searched_part

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter tuning of PyTorch models on Ray Tune, from one YAML job spec.")
SpecArg = Annotated[Path, typer.Argument(help="The job spec (YAML).", show_default=False)]
ResultsArg = Annotated[str, typer.Argument(help="A job's results directory (<storage>/<name>), a path or a URI.",
                                           show_default=False)]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dotted.key=value (YAML value).")]


def _print_version(asked: bool) -> None:
    if asked:
        from tune_jobs.results.job_record import versions

        shown = versions()
        out.print(f"tune-jobs {shown['tune-jobs']} (Ray {shown['ray']}, PyTorch {shown['torch']}, Python {shown['python']})",
                  highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                   help="Print the versions and exit.")] = False) -> None:
    """Hyperparameter tuning of PyTorch models on Ray Tune, from one YAML job spec."""


@app.command()
def validate(spec: SpecArg, set_: SetOption = None) -> None:
    """Check a job spec completely without running anything."""
    job = load_or_exit(spec, set_)
    rerun = None if job.stages else _what_a_run_does(job)
    stages = f", stages {' -> '.join(s.name for s in job.stages)}" if job.stages else ""
    out.print(f"{spec}: valid ({job.trainable}, {job.search_label} search, {job.planned_trials} trials{stages}, "
              f"{job.plan.scheduler.type} scheduler)", highlight=False)
    if rerun is not None and rerun.growth is not None:
        out.print(f"run grows job {job.name} in {job.results_dir}: {rerun.growth.describe()}", highlight=False)
    elif rerun is not None and rerun.finished:
        out.print(f"job {job.name} finished in {job.results_dir}: run shows its results (--restart runs it again)",
                  highlight=False)


def _what_a_run_does(job: Any) -> Any:
    """With results already there, `run` resumes, grows, shows them, or refuses: the refusal exits 2 here too."""
    from tune_jobs.rerun import CLI_WORDS, check_rerun
    from tune_jobs.results.store import ResultsStore

    try:
        return check_rerun(job, ResultsStore(job.results_dir), restart=False, resume_changed_code=False, words=CLI_WORDS)
    except UserError as error:
        fail_bad_input(error)


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
    resume_changed_code: Annotated[bool, typer.Option(help="Resume even though the trainable's code changed "
                                                           "since the job's results were written (recorded in job.json).")] = False,
) -> None:
    """Run a tuning job and write every trial's history to Parquet."""
    job = load_or_exit(spec, set_, storage)
    from tune_jobs.rerun import CLI_WORDS
    from tune_jobs.runner import run_job, run_stages

    where = f"stages {', '.join(s.name for s in job.stages)}" if job.stages else job.results_dir
    err.print(f"job {job.name}: {job.trainable}, {job.search_label} search, {job.planned_trials} trials, "
              f"{job.plan.scheduler.type} scheduler -> {where}", highlight=False)
    try:
        if job.stages:
            done = run_stages(job, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus, console=err,
                              resume_changed_code=resume_changed_code, words=CLI_WORDS)
        else:
            done = [(job, run_job(job, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus, console=err,
                                  resume_changed_code=resume_changed_code, words=CLI_WORDS))]
    except UserError as error:
        fail_bad_input(error)
    except KeyboardInterrupt:
        where = job.results_dir if not job.stages else job.storage
        again = shlex.join(["tune-jobs", "run", str(spec), *(a for o in set_ or [] for a in ("--set", o)),
                            *(["--storage", str(storage)] if storage else []), *(["--address", address] if address else [])])
        err.print(f"interrupted: results so far are in {where}; `{again}` resumes the job", highlight=False, markup=False)
        raise typer.Exit(130) from None
    for stage_job, outcome in done:
        if job.stages:
            out.print(f"stage {stage_job.name}:", highlight=False)
        _print_outcome(stage_job, outcome)
        _finish_outputs(stage_job, outcome)
    found = [(outcome.best.best, stage_job.name) for stage_job, outcome in done
             if outcome.best is not None and outcome.best.best is not None]
    if job.stages and found:
        value = best_of([v for v, _ in found], job.plan.mode)
        where = next(name for v, name in found if v == value)
        out.print(f"best {job.metric} over all stages: {value:.6g} (stage {where})", highlight=False)
    raise typer.Exit(max(outcome.exit_code for _, outcome in done))


def _finish_outputs(job: Any, outcome: Any) -> None:
    if job.outputs.mlflow is None:
        return
    from tune_jobs.exports import finish_outputs

    with err.status("attaching checkpoints and the report to MLflow..."):
        exported = finish_outputs(job, outcome)
    if exported is not None:
        _print_exported(exported)


def _print_exported(exported: Any) -> None:
    out.print(f"mlflow: experiment {exported.experiment_id}, parent run {exported.parent_run_id}, {exported.runs} trial runs "
              f"({exported.rows} iterations and {exported.checkpoints} checkpoints added"
              f"{', the report attached' if exported.report else ''})", highlight=False)


def _print_pareto(directory: str) -> None:
    found = _load_results_or_exit(directory)
    objectives = found.objectives
    _, members = found.pareto()
    shown = ", ".join(f"{metric} ({direction})" for metric, direction in objectives.items())
    constraints = found.spec.get("constraints") or []
    limits = f", subject to {', '.join(constraints)}" if constraints else ""
    table = Table(title=f"{found.name}: Pareto set of {len(members)} by {shown}{limits}")
    searched = list(found.space)
    for column in ["trial_id", *objectives, *searched]:
        table.add_column(column, no_wrap=True)
    configs = {row["trial_id"]: found.config_of(row) for row in found.trials.to_dict("records")}
    for member in sorted(members, key=lambda m: m["values"][next(iter(objectives))], reverse=next(iter(objectives.values())) == "max"):
        config = configs.get(member["trial_id"], {})
        table.add_row(member["trial_id"], *(cell(member["values"][m]) for m in objectives), *(cell(config.get(k)) for k in searched))
    print_table(table)
    status = found.record.get("status", "unknown")
    if status != "finished":
        out.print(f"job {status}: the set so far", highlight=False)


def _print_outcome(job: Any, outcome: Any) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in outcome.counts.items() if n)
    out.print(f"trials: {counts or 'none'}", highlight=False)
    for message, n in sorted(outcome.errors.items(), key=lambda item: -item[1])[:5]:
        out.print(f"  failed x{n}: {message}", highlight=False, markup=False)
    if outcome.best is not None:
        shown = ", ".join(f"{k}={show(v)}" for k, v in searched_part(outcome.best.config, job.space).items())
        out.print(f"best {job.metric}: {outcome.best.best:.6g} (trial {outcome.best.trial_id}: {shown})",
                  highlight=False, markup=False)
    out.print(f"results: {outcome.results_dir}/trials.parquet, iterations.parquet, job.json", highlight=False)


@app.command()
def results(
    directory: ResultsArg,
    top: Annotated[int, typer.Option(min=1, help="How many trials to show.")] = 10,
    pareto: Annotated[bool, typer.Option(help="The Pareto set instead: the feasible trials no other beats on every "
                                              "objective.")] = False,
) -> None:
    """Show the best trials of a job."""
    from tune_jobs.results.reader import best_trials, event_counts, failure_counts, read_job
    from tune_jobs.results.schema import CONFIG_PREFIX, ERROR, ITERATIONS, STATUS, TRIAL_ID, best_column

    if pareto:
        _print_pareto(directory)
        return

    try:
        trials, metric, mode = best_trials(directory, top)
    except UserError as error:
        fail_bad_input(error)
    status = read_job(directory).get("status", "unknown")
    if trials.empty:
        out.print(f"{directory}: {status}, no trial has reported yet", highlight=False, markup=False)
        return
    config_columns = [c for c in trials.columns if c.startswith(CONFIG_PREFIX)]
    errors = [ERROR] if trials[ERROR].notna().any() else []
    columns = [TRIAL_ID, STATUS, best_column(metric), ITERATIONS, *errors, *config_columns]
    name = directory.split("?")[0].rstrip("/").rsplit("/", 1)[-1]  # a path or a URI with a query string
    table = Table(title=f"{name}: best {len(trials)} by {metric} ({mode})")
    headers = {best_column(metric): f"best {metric}", ITERATIONS: "iters"}
    for column in columns:
        table.add_column(headers.get(column, column.removeprefix(CONFIG_PREFIX)), no_wrap=True)
    for row in trials.to_dict("records"):
        table.add_row(*(cell(row[c]) for c in columns))
    print_table(table)
    if status != "finished":
        out.print(f"job {status}" + ("; a rerun resumes it" if status == "interrupted" else ""), highlight=False)
    for message, n in failure_counts(directory).items():
        out.print(f"  failed x{n}: {message}", highlight=False, markup=False)
    decisions = event_counts(directory)
    if decisions:
        out.print("scheduler decisions: " + ", ".join(f"{n} {kind}" for kind, n in decisions.items()), highlight=False)


def _load_results_or_exit(directory: str) -> Any:
    from tune_jobs.analysis.job_results import load_results

    try:
        return load_results(directory)
    except UserError as error:
        fail_bad_input(error)


@app.command()
def dashboard(
    directory: Annotated[str, typer.Argument(help="A results root (<storage>) or one job's results directory.")] = "results",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to bind; another than loopback needs TUNE_JOBS_DASHBOARD_TOKEN.")]
    = "127.0.0.1",
) -> None:
    """Watch jobs live in a browser: trials, curves, best so far, parallel coordinates, importance, rungs."""
    from tune_jobs.dashboard.server import dashboard_token, serve, url_of
    from tune_jobs.dashboard.views import job_directories

    if not 0 < port < 65536:
        fail_bad_input(SpecError([f"--port: 1 to 65535, got {port}"]))
    try:
        token = dashboard_token(host)
        found = job_directories(directory)
    except UserError as error:
        fail_bad_input(error)
    single = Path(found[0]).name if len(found) == 1 and Path(directory, "job.json").exists() else None
    err.print(f"dashboard of {directory} ({len(found)} job{'s' if len(found) != 1 else ''}): {url_of(host, port, single)}"
              + (" (open it with ?token=<TUNE_JOBS_DASHBOARD_TOKEN>)" if token else "") + "; Ctrl-C stops it", highlight=False)
    serve(directory, host, port, token)


export_app = typer.Typer(no_args_is_help=True, help="Hand a job's results to an experiment tracker.")
app.add_typer(export_app, name="export")


@export_app.command("mlflow")
def export_mlflow(
    directory: ResultsArg,
    tracking_uri: Annotated[Optional[str], typer.Option(help="Default: the spec's outputs.mlflow.tracking_uri, then "
                                                             "MLFLOW_TRACKING_URI, then MLflow's default.")] = None,
    experiment: Annotated[Optional[str], typer.Option(help="Default: the spec's outputs.mlflow.experiment, then the "
                                                           "job's name.")] = None,
    report: Annotated[bool, typer.Option(help="Attach the HTML report to the job's run.")] = True,
) -> None:
    """One MLflow run per job with a child run per trial: config, every iteration, status, best checkpoint.
    Logs only what MLflow does not hold yet, so it can run again."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        fail_bad_input(SpecError(["export mlflow: needs MLflow, which is not installed: pip install 'tune-jobs[mlflow]'"]))
    if tracking_uri is not None:
        from tune_jobs.spec.job import tracking_uri_problem

        problem = tracking_uri_problem(tracking_uri)
        if problem:
            fail_bad_input(SpecError([f"--tracking-uri: {problem}"]))
    _load_results_or_exit(directory)
    from tune_jobs.exports import export_mlflow as export

    with err.status("exporting to MLflow..."):
        exported = export(directory, tracking_uri, experiment, report)
    _print_exported(exported)


@app.command()
def report(
    directory: ResultsArg,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Default: report.html in the results "
                                                   "directory (local results only).")] = None,
) -> None:
    """Write one self-contained HTML page: best trials, curves, importance, rungs, diagnosis."""
    from tune_jobs.report.build import write_report
    from tune_jobs.results.store import is_uri

    if output is None and is_uri(directory):
        fail_bad_input(SpecError([f"--output: required for results in an object store ({directory})"]))
    results = _load_results_or_exit(directory)
    target = output or Path(directory) / "report.html"
    if target.is_dir():
        fail_bad_input(SpecError([f"--output: {target} is a directory; give a file name such as report.html"]))
    if not target.parent.exists():
        fail_bad_input(SpecError([f"--output: directory {target.parent} does not exist"]))
    with err.status(f"analysing {len(results.trials)} trials..."):
        write_report(results, target)
    out.print(f"report: {target}", highlight=False)


ObjectiveOption = Annotated[Optional[str], typer.Option(
    help="Rank trials by this objective (a job with several objectives must say which).", show_default=False)]


@app.command()
def narrow(
    directory: ResultsArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The new job spec (YAML).", show_default=False)],
    top_fraction: Annotated[float, typer.Option(help="Build the new ranges around this share of the best trials.")] = 0.25,
    min_importance: Annotated[float, typer.Option(help="Fix keys whose fANOVA importance is below this share.")] = 0.05,
    trials: Annotated[Optional[int], typer.Option(help="Trials of the new job (default: as many as the earlier one).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Name of the new job (default: <name>-narrowed).")] = None,
    objective: ObjectiveOption = None,
) -> None:
    """Write a follow-up job spec: ranges shrunk around the best trials, BayesOpt warm-started from them."""
    import sys

    from tune_jobs.analysis.follow_up import follow_up_spec, follow_up_yaml
    from tune_jobs.analysis.narrow import NarrowOptions, narrow_space
    from tune_jobs.results.files import replace_atomically
    from tune_jobs.spec import validate_spec

    problems = [line for bad, line in (
        (not 0 < top_fraction <= 1, f"--top-fraction: must be in (0, 1], got {top_fraction:g}"),
        (not 0 <= min_importance < 1, f"--min-importance: must be in [0, 1), got {min_importance:g}"),
        (trials is not None and trials < 1, f"--trials: must be >= 1, got {trials}"),
        (output.is_dir(), f"--output: {output} is a directory; give a file name such as narrowed.yaml"),
    ) if bad]
    if problems:
        fail_bad_input(SpecError(problems))
    results = _load_results_or_exit(directory)
    try:
        results = results.ranked_by(objective)
        narrowed = narrow_space(results, NarrowOptions(top_fraction=top_fraction, min_importance=min_importance))
        spec = follow_up_spec(results, narrowed, name or f"{results.name}-narrowed", trials or len(results.trials))
        validate_spec(spec)  # what we write must run as it is
    except UserError as error:
        fail_bad_input(error)
    text = follow_up_yaml(results, narrowed, spec, "tune-jobs " + " ".join(sys.argv[1:]))
    replace_atomically(output, lambda temp: temp.write_text(text))
    for warning in narrowed.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    for key, value in narrowed.fixed.items():
        out.print(f"  {key} = {show(value)}  ({narrowed.why[key]})", highlight=False, markup=False)
    for key, param in narrowed.space.items():
        out.print(f"  {key}: {param}  ({narrowed.why[key]})", highlight=False, markup=False)
    out.print(f"wrote {output}: {len(narrowed.space)} searched, {len(narrowed.fixed)} fixed; run it with "
              f"`tune-jobs run {output}`", highlight=False)


@app.command()
def ensemble(
    directory: ResultsArg,
    top: Annotated[int, typer.Option(help="How many of the best trials to average.")] = 5,
    include_stopped: Annotated[bool, typer.Option(help="Also trials the scheduler stopped early (default: only those "
                                                       "that ran to the end).")] = False,
    objective: ObjectiveOption = None,
) -> None:
    """Average the top trials' predicted probabilities; compare with the best single model."""
    from tune_jobs.analysis.ensemble import build_ensemble, write_ensemble

    if top < 2:
        fail_bad_input(SpecError([f"--top: an ensemble needs at least 2 members, got {top}"]))
    results = _load_results_or_exit(directory)
    try:
        results = results.ranked_by(objective)
        with err.status(f"loading the top {top} checkpoints and predicting..."):
            found = build_ensemble(results, top, include_stopped)
    except UserError as error:
        fail_bad_input(error)
    table = Table(title=f"{results.name}: ensemble of {len(found.members)} on {found.validation_samples} validation samples")
    for column in ("model", "checkpoint epoch", "accuracy", "loss"):
        table.add_column(column, no_wrap=True)
    for member in found.members:
        table.add_row(member.trial_id, str(member.epoch), f"{member.accuracy:.4f}", f"{member.nll:.4f}")
    table.add_row("[bold]ensemble[/bold]", "", f"[bold]{found.accuracy:.4f}[/bold]", f"[bold]{found.nll:.4f}[/bold]")
    print_table(table)
    out.print(f"ensemble accuracy {found.accuracy:.4f} vs best single {found.best_single_accuracy:.4f} "
              f"({found.gain:+.4f}); written to {write_ensemble(results, found)}", highlight=False)


@app.command()
def evaluate(
    directory: ResultsArg,
    top: Annotated[int, typer.Option(help="The best trials averaged as an ensemble (1: the best trial only).")] = 5,
    include_stopped: Annotated[bool, typer.Option(help="Also trials the scheduler stopped early (default: only those "
                                                       "that ran to the end).")] = False,
    objective: ObjectiveOption = None,
) -> None:
    """Measure the best trial and the top-K ensemble once on the held-out test rows."""
    from tune_jobs.analysis.evaluate import SPLITS, evaluate_job, write_evaluation

    if top < 1:
        fail_bad_input(SpecError([f"--top: at least 1, got {top}"]))
    results = _load_results_or_exit(directory)
    try:
        results = results.ranked_by(objective)
        with err.status(f"loading the top {top} checkpoints and predicting..."):
            found = evaluate_job(results, top, include_stopped)
    except UserError as error:
        fail_bad_input(error)
    samples = ", ".join(f"{split} {found.samples[split]}" for split in SPLITS)
    headline, *others = found.figures
    table = Table(title=f"{results.name}: {headline} ({', '.join(others)}) by split; rows: {samples}")
    for column in ("model", "checkpoint epoch", *SPLITS):
        table.add_column(column, no_wrap=True)
    for model in (found.best, found.ensemble):
        if model is not None:
            table.add_row(model.name, "" if model.epoch is None else str(model.epoch),
                          *(f"{model.scores[s][headline]:.4f} ({', '.join(f'{model.scores[s][o]:.4f}' for o in others)})"
                            for s in SPLITS))
    print_table(table)
    if found.ensemble is not None:
        out.print(f"{found.ensemble.name}: {', '.join(found.ensemble.members)}", highlight=False, markup=False)
    for line in found.reading:
        out.print(line, highlight=False, markup=False)
    out.print(f"written to {write_evaluation(results, found)}", highlight=False)


@app.command()
def trainables(
    name: Annotated[Optional[str], typer.Argument(help="One trainable: every key it accepts, with its default and "
                                                       "what it does.", show_default=False)] = None,
) -> None:
    """List the registered trainables: metrics and the keys each adds to the shared training loop's."""
    import trainables as _builtins  # noqa: F401
    from trainables.loop.config import LoopConfig
    from trainables.registry import TRAINABLES, UnknownNameError

    if name is not None:
        try:
            definition = TRAINABLES.get(name)
        except UnknownNameError as error:
            fail_bad_input(SpecError([f"name: {error}"]))
        out.print(f"[bold]{name}[/bold]: {definition.description}")
        out.print(f"  metrics: {_metrics(definition)}", highlight=False)
        fields = definition.config.model_fields if definition.config is not None else {}
        for key, value in definition.defaults().items():
            about = fields[key].description if key in fields and fields[key].description else ""
            out.print(f"  {key} = {show(value)}" + (f"  ({about})" if about else ""), highlight=False, markup=False)
        return
    shared = {key: field.get_default(call_default_factory=True) for key, field in LoopConfig.model_fields.items()}
    for trainable_name, definition in TRAINABLES:
        out.print(f"[bold]{trainable_name}[/bold]: {definition.description}")
        out.print(f"  metrics: {_metrics(definition)}", highlight=False)
        defaults = definition.defaults()
        on_loop = set(shared) <= set(defaults)
        own = {k: v for k, v in defaults.items() if not on_loop or k not in shared or shared[k] != v}
        keys = ", ".join(f"{k}={show(v)}" for k, v in own.items()) or "none"
        out.print(_wrapped(f"  {'its keys (and the shared loop keys below)' if on_loop else 'config'}: {keys}"),
                  highlight=False, markup=False)
    out.print(_wrapped("shared training-loop keys: " + ", ".join(f"{k}={show(v)}" for k, v in shared.items())),
              highlight=False, markup=False)
    out.print("`tune-jobs trainables NAME` shows one trainable's keys in full.", highlight=False)


def _wrapped(line: str, width: int = 110) -> str:
    import textwrap

    return textwrap.fill(line, width=width, subsequent_indent="      ", break_on_hyphens=False)


def _metrics(definition: Any) -> str:
    return ", ".join(f"{m} ({mode})" for m, mode in definition.metrics.items()) or "whatever it reports (the spec sets mode)"


from tune_jobs.kubernetes.cli import k8s  # noqa: E402 (after the local commands, in --help too)
from tune_jobs.remote.cli import add_remote_commands  # noqa: E402

add_remote_commands(app)
app.command()(k8s)


def main() -> None:
    app(prog_name="tune-jobs")


if __name__ == "__main__":
    main()
