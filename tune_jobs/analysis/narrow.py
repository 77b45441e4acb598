"""A follow-up search space from an earlier job: ranges shrink around the best trials, and keys
that barely matter are fixed at the best trial's value.

Numeric ranges become the span of the top trials' values plus a margin (in log space for log
ranges), never wider than the original; ordinal lists keep the values the top trials span and one
more on each side; categorical keys keep the options the top trials used.
The most important key is never fixed, so there is always something left to search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tune_jobs.analysis.importance import Importance, hyperparameter_importance
from tune_jobs.analysis.job_results import JobResults
from tune_jobs.core.values import show
from tune_jobs.errors import UserError
from tune_jobs.space import Grid, Ordinal, Param

MIN_TOP_TRIALS = 2
# Fixing a key needs evidence: with fewer successful trials per searched key, fANOVA's shares are
# too noisy to bet a key's value on (20 random trials over 5 keys fixed an optimizer choice worth
# 0.6 of regret at 0.4% importance).
TRIALS_PER_KEY_TO_FIX = 5
# Narrowing a range or dropping an option needs evidence too: two top trials of eight fixed an
# optimizer and shrank lr 35x. Below this many top trials every key keeps its range.
MIN_TOP_TO_NARROW = 3


@dataclass(frozen=True)
class NarrowOptions:
    top_fraction: float = 0.25  # the best trials the new ranges are built around
    min_importance: float = 0.05  # keys with a smaller fANOVA share are fixed
    margin: float = 0.1  # of the original range's width, added on each side of the top trials' span


@dataclass
class NarrowedSpace:
    space: dict[str, dict[str, Any]]  # key -> {kind: values, ...}, as the spec writes it
    fixed: dict[str, Any]  # key -> value, moved to config
    why: dict[str, str] = field(default_factory=dict)  # key -> one-line reason, for the spec's comments
    top: int = 0
    importance: Importance | None = None
    fixing: bool = True  # False: too few trials per key to fix any by importance
    warnings: list[str] = field(default_factory=list)  # what the user should know before running it


def narrow_space(results: JobResults, options: NarrowOptions = NarrowOptions()) -> NarrowedSpace:
    scored = results.scored()
    if len(scored) < MIN_TOP_TRIALS:
        raise UserError([f"{results.directory}: {len(scored)} successful trial(s); narrowing needs at least {MIN_TOP_TRIALS}"])
    if not results.space:
        raise UserError([f"{results.directory}: the job searched no key; there is nothing to narrow"])
    top = scored.head(max(MIN_TOP_TRIALS, math.ceil(options.top_fraction * len(scored))))
    best = results.config_of(scored.iloc[0])
    importance = hyperparameter_importance(results)
    most_important = next(iter(importance.shares), None)
    can_fix = len(scored) >= TRIALS_PER_KEY_TO_FIX * len(results.space)
    narrowed = NarrowedSpace({}, {}, top=len(top), importance=importance, fixing=can_fix)
    if len(top) < MIN_TOP_TO_NARROW:
        narrowed.fixing = False
        narrowed.warnings.append(
            f"only {len(top)} top trial(s) of {len(scored)} successful: too few to narrow on (at least {MIN_TOP_TO_NARROW}); "
            "every key keeps its range. Run more trials, or raise --top-fraction")
        for key, param in results.space.items():
            # grid becomes choice, as below: the follow-up's BayesOpt picks every value itself
            narrowed.space[key] = {"choice": list(param.values())} if isinstance(param, Grid) else param.written()
            narrowed.why[key] = f"kept: too few top trials ({len(top)}) to narrow on"
        return narrowed
    for key, param in results.space.items():
        share = importance.shares.get(key)
        values = [results.config_of(row)[key] for _, row in top.iterrows()]
        if can_fix and share is not None and share < options.min_importance and key != most_important:
            narrowed.fixed[key] = best[key]
            narrowed.why[key] = (f"fixed at the best trial's value: fANOVA importance {share:.1%} "
                                 f"< {options.min_importance:.0%}; was {_written(param)}")
        elif isinstance(param, Ordinal):
            _narrow_ordinal(narrowed, key, param, values)
        elif param.is_numeric:
            _narrow_range(narrowed, key, param, values, options.margin)
        else:
            _narrow_options(narrowed, key, param, values)
    return narrowed


def _written(param: Param) -> str:
    return f"{param.kind} [{', '.join(show(v) for v in param.values())}]"


def _narrow_range(narrowed: NarrowedSpace, key: str, param: Param, values: list[Any], margin: float) -> None:
    low, high = (float(v) for v in param.bounds)  # type: ignore[attr-defined]
    to_axis, from_axis = (math.log, math.exp) if param.log_scale else (float, float)
    span = to_axis(high) - to_axis(low)
    inside = [to_axis(float(v)) for v in values]
    new_low = max(to_axis(low), min(inside) - margin * span)
    new_high = min(to_axis(high), max(inside) + margin * span)
    a: float
    b: float
    if param.is_int:
        a, b = max(int(low), math.floor(from_axis(new_low))), min(int(high), math.ceil(from_axis(new_high)))
    else:
        a, b = _round_out(from_axis(new_low), from_axis(new_high), low, high)
    if a >= b:
        narrowed.fixed[key] = values[0]
        narrowed.why[key] = f"fixed: every one of the top {len(values)} trials used {show(values[0])}; was {_written(param)}"
        return
    narrowed.space[key] = {param.kind: [a, b]}
    narrowed.why[key] = f"was [{show(low)}, {show(high)}]; the top {len(values)} trials span [{show(min(values))}, {show(max(values))}]"


def _narrow_ordinal(narrowed: NarrowedSpace, key: str, param: Ordinal, values: list[Any]) -> None:
    """The listed values the top trials span, and one more on each side to look beyond them."""
    used = [param.options.index(v) for v in values if v in param.options] or [0, len(param.options) - 1]
    kept = param.options[max(0, min(used) - 1): max(used) + 2]
    if len(kept) == 1:
        narrowed.fixed[key] = kept[0]
        narrowed.why[key] = f"fixed: every one of the top {len(values)} trials used {show(kept[0])}; was {_written(param)}"
        return
    narrowed.space[key] = {**param.written(), "ordinal": kept}
    dropped = [show(v) for v in param.options if v not in kept]
    narrowed.why[key] = (f"dropped {', '.join(dropped)}: the top {len(values)} trials span "
                         f"[{show(min(values))}, {show(max(values))}]" if dropped
                         else f"every value is within one step of the top {len(values)} trials")


def _round_out(a: float, b: float, low: float, high: float) -> tuple[float, float]:
    """Four significant digits, rounded outwards so the top trials stay inside, within [low, high]."""
    def rounded(x: float, up: bool) -> float:
        if x == 0:
            return 0.0
        scale = 10 ** (math.floor(math.log10(abs(x))) - 3)
        return (math.ceil if up else math.floor)(x / scale) * scale

    return max(low, float(f"{rounded(a, False):.4g}")), min(high, float(f"{rounded(b, True):.4g}"))


def _narrow_options(narrowed: NarrowedSpace, key: str, param: Param, values: list[Any]) -> None:
    used = [option for option in param.values() if any(str(option) == str(v) for v in values)]
    if len(used) <= 1:
        narrowed.fixed[key] = used[0] if used else values[0]
        narrowed.why[key] = f"fixed: every one of the top {len(values)} trials used {show(narrowed.fixed[key])}; was {_written(param)}"
        return
    narrowed.space[key] = {"choice": used}  # grid becomes choice: BayesOpt picks every value itself
    dropped = [show(o) for o in param.values() if o not in used]
    narrowed.why[key] = (f"dropped {', '.join(dropped)}: no top trial used it" if dropped
                         else f"every option appears among the top {len(values)} trials")
