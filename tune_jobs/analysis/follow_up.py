"""The follow-up job of a narrowed space: the earlier spec with the new ranges, the fixed keys in
``config``, and BayesOpt warm-started from the earlier results. Used by ``tune-jobs narrow`` (as
commented YAML) and by ``stages:`` (as data)."""

from __future__ import annotations

import io
from typing import Any

from tune_jobs.analysis.job_results import JobResults
from tune_jobs.analysis.narrow import TRIALS_PER_KEY_TO_FIX, NarrowedSpace

_BEFORE = ("trainable", "metric", "mode")
_AFTER = ("scheduler", "resources", "stop", "failure", "storage")


def follow_up_spec(results: JobResults, narrowed: NarrowedSpace, name: str, trials: int) -> dict[str, Any]:
    earlier = results.spec
    search = earlier.get("search") or {}
    options = dict(search.get("options") or {}) if search.get("algorithm") == "bayesopt" else {}
    options["warm_start"] = results.directory
    spec: dict[str, Any] = {"name": name, **{key: earlier[key] for key in _BEFORE if key in earlier}}
    spec["config"] = {**(earlier.get("config") or {}), **narrowed.fixed}
    spec["space"] = narrowed.space
    spec["search"] = {"algorithm": "bayesopt", "num_samples": trials,
                      **{k: search[k] for k in ("seed", "max_concurrent") if search.get(k) is not None},
                      "options": options}
    for key in _AFTER:
        value = earlier.get(key)
        if isinstance(value, dict):  # defaults that say nothing (time_budget_s: null) are left out
            value = {k: v for k, v in value.items() if v is not None}
        if value not in (None, {}):
            spec[key] = value
    for key, default in (("runtime_env", {"pip": [], "env_vars": {}}), ("tensorboard", True)):
        if key in earlier and earlier[key] != default:
            spec[key] = earlier[key]
    return spec


def follow_up_yaml(results: JobResults, narrowed: NarrowedSpace, spec: dict[str, Any], command: str) -> str:
    """``spec`` as YAML, each narrowed or fixed key commented with why."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    document = CommentedMap(spec)
    importance = narrowed.importance
    method = (f"importance: {importance.method}, {importance.trials} trials" if importance and importance.shares
              else f"importance not used ({importance.note})" if importance else "")
    if importance and importance.shares and not narrowed.fixing:
        method += f"; no key fixed by importance: fewer than {TRIALS_PER_KEY_TO_FIX} successful trials per searched key"
    document.yaml_set_start_comment(
        f"Narrowed from {results.name} ({results.directory}) by `{command}`.\n"
        f"Ranges: the top {narrowed.top} of {len(results.scored())} successful trials by {results.metric}, "
        f"plus a margin; {method}.\n"
        "BayesOpt starts from the earlier trials (search.options.warm_start).")
    config = CommentedMap(spec["config"])
    space = CommentedMap({key: _flow(value) for key, value in spec["space"].items()})
    column = 4 + max(len(f"{key}: {value}") for key, value in {**spec["config"], **spec["space"]}.items())
    for key in narrowed.fixed:
        config.yaml_add_eol_comment(narrowed.why[key], key, column=column)
    for key in spec["space"]:
        space.yaml_add_eol_comment(narrowed.why[key], key, column=column)
    document["config"], document["space"] = config, space
    for key in ("scheduler", "resources", "stop", "failure", "runtime_env"):
        if key in document:
            document[key] = _flow(document[key])
    yaml = YAML()
    yaml.width = 4096  # comments stay on their line
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _flow(value: Any) -> Any:
    """Short mappings on one line, as people write ``{loguniform: [0.001, 0.1]}``."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        flowed = CommentedMap({k: _flow(v) for k, v in value.items()})
        flowed.fa.set_flow_style()
        return flowed
    if isinstance(value, list):
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


__all__ = ["follow_up_spec", "follow_up_yaml"]
