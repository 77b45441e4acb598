"""What running a job again does when its results exist, decided before Ray starts.

The same spec resumes the job (or, when it finished, shows its results); more ``search.num_samples``
or a longer ``stop.time_budget_s`` grows it, going on with its searcher's state; any other change
is refused in one line naming each changed field. Users asked for the grow: rerunning a finished
200-trial job to get 300 threw away the searcher's model of the first 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainables.registry import code_fingerprint
from tune_jobs.core.values import show
from tune_jobs.errors import SpecError, UserError
from tune_jobs.results.files import JOB_FILE
from tune_jobs.results.store import ResultsStore
from tune_jobs.spec import OUTPUT_ONLY, JobSpec

SAMPLES, TIME_BUDGET = "search.num_samples", "stop.time_budget_s"


@dataclass(frozen=True)
class RerunWords:
    """How the caller spells the options a refusal points to (the CLI's flags, the API's arguments)."""

    restart: str
    resume_changed_code: str


CLI_WORDS = RerunWords("--restart", "--resume-changed-code")
API_WORDS = RerunWords("restart=True", "resume_changed_code=True")


@dataclass(frozen=True)
class Growth:
    changes: list[str]  # ``field: old -> new`` for each field that grew

    def describe(self) -> str:
        return "; ".join(self.changes)


@dataclass(frozen=True)
class Rerun:
    code: dict[str, str]  # the trainable's code fingerprint now
    changed_from: dict[str, str] | None  # the earlier run's, when the job goes on with changed code
    finished: bool = False  # the same job ran to its end before: nothing is left to run
    growth: Growth | None = None  # more trials or time for a job that ran before
    ended_before: bool = False  # the earlier run finished (its failed trials stay failed when it grows)


def check_rerun(spec: JobSpec, store: ResultsStore, restart: bool, resume_changed_code: bool,
                words: RerunWords = API_WORDS) -> Rerun:
    """Whether this run resumes, grows, only shows or is refused (``SpecError``): rerunning edited
    training code silently returned the old results, and a changed spec was refused after Ray started."""
    code = code_fingerprint(spec.trainable_def)
    try:
        earlier = store.read_json(JOB_FILE) if not restart and store.exists(JOB_FILE) else None
    except OSError as error:
        raise UserError([f"storage: cannot use {store}: {str(error).splitlines()[0]}"]) from None
    if earlier is None:
        return Rerun(code, None)
    ended = earlier.get("status") == "finished"
    growth = None
    if earlier.get("spec_sha256") not in (None, spec.sha256()):
        growth = _growth(spec, store, earlier, words)
    before = earlier.get("code")
    changed_from = None
    if before is not None and before.get("sha256") != code["sha256"]:
        if not resume_changed_code:
            raise SpecError([f"trainable: {code['what']} changed since job {spec.name!r} wrote its results in {store}; "
                             f"pass {words.restart} to start over, or {words.resume_changed_code} to go on with the new code"])
        changed_from = before
    return Rerun(code, changed_from, finished=ended and growth is None and changed_from is None, growth=growth,
                 ended_before=ended)


def _growth(spec: JobSpec, store: ResultsStore, earlier: dict[str, Any], words: RerunWords) -> Growth:
    """The fields that grew, or ``SpecError`` naming every changed field."""
    earlier_spec = earlier.get("spec") or {}
    changed = changed_fields(earlier_spec, spec.resolved())
    grown = [(field, before, after) for field, before, after in changed if _grows(field, before, after, spec)]
    if not changed or len(grown) < len(changed):
        shown = "; ".join(f"{field}: {_shown(before)} -> {_shown(after)}" for field, before, after in changed) or "changed"
        raise SpecError([f"storage: results of job {spec.name!r} in {store} come from a different spec ({shown}); "
                         f"pass {words.restart} to replace them, or choose another name (a rerun can only raise "
                         f"{SAMPLES} or {TIME_BUDGET})"])
    why_not = _cannot_grow(spec, int(earlier.get("stack_size", 1)))
    if why_not:
        raise SpecError([f"{grown[0][0]}: job {spec.name!r} cannot grow: {why_not}; pass {words.restart} to run it "
                         "again from the start"])
    return Growth([f"{field}: {_shown(before)} -> {_shown(after)}" for field, before, after in grown])


def _shown(value: Any) -> str:
    return "null" if value is None else show(value)  # as the spec's YAML says it


def _grows(field: str, before: Any, after: Any, spec: JobSpec) -> bool:
    if field == SAMPLES:
        default = spec.plan.search.default_num_samples
        return (after if after is not None else default) > (before if before is not None else default)
    if field == TIME_BUDGET:
        return before is not None and (after is None or after > before)
    return False


def _cannot_grow(spec: JobSpec, stack_size: int) -> str | None:
    """Why Ray cannot add trials to this job, or None."""
    if stack_size > 1:
        return f"it ran as fused stacks of {stack_size} (execution.fuse)"
    if spec.uses_variant_generator:
        return (f"{spec.plan.search.algorithm} search with the {spec.plan.scheduler.type} scheduler draws every trial up front "
                "(Ray's variant generator)")
    return None


def changed_fields(earlier: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(section.key, old, new)`` for each field of the job's identity that differs."""
    found = []
    for key in sorted(set(earlier) | set(now)):
        if not prefix and key in OUTPUT_ONLY:
            continue
        before, after = earlier.get(key), now.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found += changed_fields(before, after, f"{prefix}{key}.")
        elif before != after:
            found.append((f"{prefix}{key}", before, after))
    return found
