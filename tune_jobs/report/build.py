"""Assembles the report: the analysis results and charts, rendered through ``template.html.j2``."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tune_jobs.analysis.diagnosis import HEALTHY, Finding, diagnose_trial
from tune_jobs.analysis.importance import Importance, hyperparameter_importance
from tune_jobs.analysis.job_results import JobResults
from tune_jobs.analysis.rungs import rung_survival
from tune_jobs.core.values import cell, show
from tune_jobs.report import plots
from tune_jobs.results.files import EVALUATION_FILE
from tune_jobs.results.schema import FAILED
from tune_jobs.results.store import ResultsStore

TOP = 5  # trials highlighted in the charts and diagnosed
TABLE_ROWS = 10


@dataclass(frozen=True)
class TrialCard:
    rank: int
    trial_id: str
    best: str
    findings: list[Finding]
    chart: str | None

    @property
    def healthy(self) -> bool:
        return all(f.kind == HEALTHY for f in self.findings)


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _wall_seconds(record: dict[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(record["start_time"])
        end = datetime.fromisoformat(record["end_time"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def _takeaways(results: JobResults, importance: Importance, cards: list[TrialCard], rungs: Any) -> list[str]:
    """The three or four sentences a newcomer should read first."""
    lines = []
    scored = results.scored()
    if len(scored):
        best = scored.iloc[0]
        config = {k: v for k, v in results.config_of(best).items() if k in results.space}
        shown = ", ".join(f"{k} = {show(v)}" for k, v in config.items())
        lines.append(f"The best trial, <b>{html.escape(best['trial_id'])}</b>, reached {results.metric} "
                     f"<b>{cell(best[results.best_column])}</b> with {html.escape(shown)}.")
    if importance.shares:
        (first, share), *rest = importance.shares.items()
        weak = [k for k, v in importance.shares.items() if v < 0.05]
        text = f"<b>{html.escape(first)}</b> matters most ({share:.0%} of the explained variance)"
        if weak:
            text += (f"; {html.escape(weak[0])} barely matters (under 5%)" if len(weak) == 1
                     else f"; {html.escape(', '.join(weak))} barely matter (under 5% each)")
        lines.append(text + ". <code>tune-jobs narrow</code> turns this into a narrower follow-up job.")
    kinds: dict[str, int] = {}
    for card in cards:
        for finding in card.findings:
            kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    problems = {k: n for k, n in kinds.items() if k != HEALTHY}
    if problems:
        lines.append(f"Among the top {len(cards)} trials: " + ", ".join(f"{n} {k}" for k, n in problems.items()) + ".")
    elif cards:
        lines.append(f"The top {len(cards)} trials' curves show no sign of trouble.")
    failed = results.trials[results.trials["status"] == FAILED]
    if len(failed):
        reasons = failed["error"].fillna("no error recorded").value_counts()
        lines.append(f"{len(failed)} trial(s) failed, most often with <code>{html.escape(str(reasons.index[0]))}</code> "
                     f"(x{int(reasons.iloc[0])}).")
    counts = results.event_counts()
    if counts:
        lines.append(f"The {results.spec['scheduler']['type']} scheduler's decisions: "
                     + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) + ".")
    if rungs:
        full = rungs.rungs[-1]
        run = int(results.iterations.groupby("trial_id")["training_iteration"].max().sum())
        budget = full.iteration * full.of
        lines.append(f"The {results.spec['scheduler']['type']} scheduler ran {full.reached} of {full.of} trials to the end: "
                     f"{run} iterations instead of {budget} ({run / budget:.0%} of a full search).")
    return lines


def _at_best(results: JobResults, trial_id: str, column: str) -> Any:
    """``column`` at the iteration where the trial's metric was best (None when it never scored)."""
    history = results.history(trial_id)
    values = history[results.metric].dropna() if results.metric in history else None
    if values is None or not len(values):
        return None
    best = values.idxmax() if results.mode == "max" else values.idxmin()
    return history.loc[best, column]


def _pareto_chart(results: JobResults) -> str | None:
    if len(results.objectives) < 2 or results.iterations.empty:
        return None
    points, members = results.pareto()
    if points.empty:
        return None
    return plots.pareto_front(points, results.objectives, {m["trial_id"] for m in members})


def build_report(results: JobResults) -> str:
    """The whole page as one string (every chart inline)."""
    import jinja2

    ranked, scored = results.ranked(), results.scored()
    top = scored.head(TOP)
    top_ids = top["trial_id"].tolist()
    params = dict(results.space)
    importance = hyperparameter_importance(results)
    rungs = rung_survival(results)
    cards = [
        TrialCard(rank + 1, trial_id, cell(best), diagnose_trial(results, trial_id),
                  plots.train_val_curves(results.history(trial_id)))
        for rank, (trial_id, best) in enumerate(zip(top_ids, top[results.best_column], strict=True))
    ]
    spread = f"{results.metric}_std"  # cross-validated trials (cv_folds): the spread across folds
    with_spread = spread in results.iterations
    table = {
        "headers": ["#", "trial", "status", f"best {results.metric}", *(["± across folds"] if with_spread else []),
                    "iters", "time", *params],
        "rows": [
            [str(i + 1), row["trial_id"], row["status"], cell(row.get(results.best_column)),
             *([cell(_at_best(results, row["trial_id"], spread))] if with_spread else []), cell(row.get("iterations")),
             _duration(row.get("time_total_s")), *(cell(results.config_of(row).get(k)) for k in params)]
            for i, (_, row) in enumerate(ranked.head(TABLE_ROWS).iterrows())
        ],
    }
    record = results.record
    counts = {k: v for k, v in (record.get("trial_counts") or {}).items() if v}
    spec = results.spec
    charts = {
        "curves": plots.learning_curves(results, top_ids) if len(results.iterations) else None,
        "params": plots.metric_vs_parameters(results, params, top_ids) if params and len(scored) else None,
        "parallel": plots.parallel_coordinates(results, params, top_ids) if params and len(scored) > 1 else None,
        "importance": plots.importance_bars(importance.shares) if importance.shares else None,
        "rungs": plots.rung_bars(rungs.rungs) if rungs else None,
        "lineage": plots.lineage(results) if "exploited" in results.event_counts() else None,
        "pareto": _pareto_chart(results),
    }
    environment = jinja2.Environment(loader=jinja2.PackageLoader("tune_jobs.report", "."), autoescape=True)
    store = ResultsStore(results.directory)
    evaluation = store.read_json(EVALUATION_FILE) if store.exists(EVALUATION_FILE) else None
    environment.filters["show"] = show
    return environment.get_template("template.html.j2").render(
        name=results.name, directory=results.directory, spec=spec, record=record, counts=counts,
        status=record.get("status", "unknown"), wall=_duration(_wall_seconds(record)), charts=charts,
        table=table, cards=cards, importance=importance, rungs=rungs, takeaways=_takeaways(results, importance, cards, rungs),
        spec_yaml=yaml.safe_dump(spec, sort_keys=False), resources=spec.get("resources", {}),
        search=spec.get("search", {}), scheduler=spec.get("scheduler", {}),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cluster={k: v for k, v in (record.get("cluster_resources") or {}).items() if k in ("CPU", "GPU")},
        evaluation=evaluation,
    )


def write_report(results: JobResults, output: Path) -> None:
    from tune_jobs.results.files import replace_atomically

    page = build_report(results)
    replace_atomically(output, lambda temp: temp.write_text(page, encoding="utf-8"))
