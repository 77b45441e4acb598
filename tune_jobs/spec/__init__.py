"""The job spec: the sections users write (``job``), how a spec is read (``load``: a YAML file,
``--set`` overrides, a dict), the checks across fields (``checks``), and the choices validation
makes once for the run (``plan``). Nothing here imports Ray or torch."""

from tune_jobs.errors import SpecError
from tune_jobs.schedulers import SchedulerSpec
from tune_jobs.search import SearchSpec
from tune_jobs.space import Param
from tune_jobs.spec.job import OUTPUT_ONLY, JobSpec
from tune_jobs.spec.load import (
    apply_override,
    load_spec,
    parse_override,
    parse_scheduler,
    read_spec_file,
    set_dotted,
    validate_spec,
)
from tune_jobs.spec.plan import JobPlan

__all__ = ["OUTPUT_ONLY", "JobPlan", "JobSpec", "Param", "SchedulerSpec", "SearchSpec", "SpecError", "apply_override",
           "load_spec", "parse_override", "parse_scheduler", "read_spec_file", "set_dotted", "validate_spec"]
