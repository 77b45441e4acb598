"""``tune-jobs k8s``: print (or write) the manifests that run a job as a KubeRay RayJob."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml
from pydantic import ValidationError

from tune_jobs.cli_io import err, fail_bad_input, load_or_exit, out
from tune_jobs.errors import SpecError, UserError, format_validation_error


class _ManifestDumper(yaml.SafeDumper):
    """Block style for multi-line strings (the spec reads as YAML inside the ConfigMap), and no
    anchors/aliases for repeated label maps (kubectl accepts them; people reading do not)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_ManifestDumper.add_representer(str, _string)


def render(documents: list[dict]) -> str:
    return yaml.dump_all(documents, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=120)


def k8s(
    spec: Annotated[Path, typer.Argument(help="The job spec (YAML).", show_default=False)],
    image: Annotated[str, typer.Option(help="Container image with tune-jobs (see docker/README.md).", show_default=False)],
    workers: Annotated[int, typer.Option(help="Worker pods.")] = 1,
    gpus_per_worker: Annotated[int, typer.Option(help="nvidia.com/gpu per worker pod.")] = 1,
    cpus_per_worker: Annotated[int, typer.Option(help="CPUs per worker pod.")] = 8,
    memory_per_worker: Annotated[str, typer.Option(help="Memory per worker pod.")] = "32Gi",
    storage: Annotated[Optional[str], typer.Option(help="Results: s3://, gs://, or a path on --volume-claim.")] = None,
    volume_claim: Annotated[Optional[str], typer.Option(help="ReadWriteMany PVC mounted at /results.")] = None,
    credentials_secret: Annotated[Optional[str], typer.Option(help="Secret exposed as env vars (object-store keys).")] = None,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace.")] = "default",
    backoff_limit: Annotated[int, typer.Option(help="Retries with a fresh cluster (the job resumes).")] = 2,
    ttl_seconds_after_finished: Annotated[int, typer.Option(help="Keep the finished RayJob this long.")] = 3600,
    active_deadline_seconds: Annotated[Optional[int], typer.Option(help="Give up after this long.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dotted.key=value.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Print a KubeRay RayJob (and the ConfigMap with the spec) that runs this job on Kubernetes."""
    from tune_jobs.kubernetes.manifest import K8sOptions, build_manifests, trials_per_worker

    job = load_or_exit(spec, set_)
    try:
        options = K8sOptions(
            image=image, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
            memory_per_worker=memory_per_worker, storage=storage, volume_claim=volume_claim,
            credentials_secret=credentials_secret, namespace=namespace, backoff_limit=backoff_limit,
            ttl_seconds_after_finished=ttl_seconds_after_finished, active_deadline_seconds=active_deadline_seconds,
        )
    except ValidationError as error:
        fail_bad_input(SpecError([f"--{line.replace('_', '-')}" for line in format_validation_error(error, K8sOptions)]))
    try:
        documents = build_manifests(job, options)
    except UserError as error:
        fail_bad_input(error)
    text = render(documents)
    if output is None:
        out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    else:
        output.write_text(text)
    per_worker = trials_per_worker(job, options)
    err.print(f"{job.name}: {options.workers} worker(s) x {per_worker} concurrent trial(s) each; "
              f"kubectl apply -f {output or '-'}", highlight=False)
