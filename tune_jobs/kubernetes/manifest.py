"""A job spec -> a ConfigMap holding it and a KubeRay ``RayJob`` (apiVersion ``ray.io/v1``) that
creates a Ray cluster, runs ``tune-jobs run`` on the spec, and tears the cluster down.

Decisions, with their reasons:
- The spec travels in a ConfigMap mounted on the head, where KubeRay's submitter starts the driver.
- Results must outlive the cluster: an object-store URI, or a volume claim mounted on every pod.
  When KubeRay retries (``backoffLimit``) a fresh cluster runs the same entrypoint, which finds
  the results and checkpoints in that storage and resumes.
- Token authentication (``authOptions.mode: token``, KubeRay >= 1.5.1) and a ClusterIP head
  service with no ingress: the job server is reachable only inside the cluster, with the token.
- The head takes no trials (``num-cpus: 0``): it keeps the driver and the GCS responsive.
"""

from __future__ import annotations

import math
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import Field, field_validator

from tune_jobs.core.model import StrictModel
from tune_jobs.errors import SpecError
from tune_jobs.results.store import is_uri
from tune_jobs.spec import JobSpec

SPEC_DIR = "/etc/tune-jobs"
SPEC_FILE = "job.yaml"
VOLUME_MOUNT = "/results"
MAX_NAME = 47  # KubeRay derives longer names (cluster, submitter job) from a RayJob's name
_QUANTITY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")


class K8sOptions(StrictModel):
    image: str = Field(min_length=1)
    workers: int = Field(1, ge=1)
    gpus_per_worker: int = Field(1, ge=0)
    cpus_per_worker: int = Field(8, ge=1)
    memory_per_worker: str = "32Gi"
    head_cpus: int = Field(2, ge=1)
    head_memory: str = "8Gi"
    storage: str | None = None
    volume_claim: str | None = Field(None, description="a ReadWriteMany PVC mounted on every pod at /results")
    credentials_secret: str | None = Field(None, description="a Secret whose keys become env vars (e.g. AWS_*)")
    namespace: str = "default"
    backoff_limit: int = Field(2, ge=0)
    ttl_seconds_after_finished: int = Field(3600, ge=0)
    active_deadline_seconds: int | None = Field(None, ge=1)
    shm_size: str = "8Gi"

    @field_validator("memory_per_worker", "head_memory", "shm_size")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError(f"a Kubernetes quantity like 32Gi, got {value!r}")
        return value


def ray_version() -> str:
    try:
        return version("ray")
    except PackageNotFoundError:  # pragma: no cover - ray is a dependency
        return "2.60.0"


def kube_name(name: str) -> str:
    """A job name as a DNS-1123 label (our names allow ``_``; Kubernetes does not)."""
    return name.replace("_", "-").strip("-")[:MAX_NAME].rstrip("-") or "tune-job"


def _storage(job: JobSpec, options: K8sOptions) -> str:
    storage = options.storage or job.storage
    if is_uri(storage):
        return storage
    if options.volume_claim is None:
        raise SpecError([f"--storage: {storage!r} is a path inside the pods, and would be lost with the cluster; "
                         "give an s3:// or gs:// URI, or --volume-claim NAME (a ReadWriteMany volume mounted "
                         f"at {VOLUME_MOUNT})"])
    if not storage.startswith("/"):
        return f"{VOLUME_MOUNT}/{storage}".rstrip("/")
    if storage != VOLUME_MOUNT and not storage.startswith(VOLUME_MOUNT + "/"):
        raise SpecError([f"--storage: {storage!r} is outside the volume mounted at {VOLUME_MOUNT}"])
    return storage


def _check_fit(job: JobSpec, options: K8sOptions) -> None:
    problems = []
    if _gpu(job, options) > options.gpus_per_worker:
        problems.append(f"resources.gpu: a trial needs {_gpu(job, options):g} GPU(s) but a worker has "
                        f"{options.gpus_per_worker} (--gpus-per-worker); no trial could ever start")
    if job.resources.cpu > options.cpus_per_worker:
        problems.append(f"resources.cpu: a trial needs {job.resources.cpu:g} CPUs but a worker has "
                        f"{options.cpus_per_worker} (--cpus-per-worker); no trial could ever start")
    if problems:
        raise SpecError(problems)


def trials_per_worker(job: JobSpec, options: K8sOptions) -> int:
    by_cpu = math.floor(options.cpus_per_worker / job.resources.cpu)
    gpu = _gpu(job, options)
    by_gpu = math.floor(options.gpus_per_worker / gpu) if gpu else by_cpu
    return min(by_cpu, by_gpu)


def _gpu(job: JobSpec, options: K8sOptions) -> float:
    """GPUs a trial starts with: ``auto`` starts with a whole one on GPU workers, none on CPU ones
    (its later trials share a GPU, so more fit than this counts)."""
    if job.resources.gpu_auto and not options.gpus_per_worker:
        return 0.0
    return job.resources.gpu_to_start


def _container(name: str, image: str, resources: dict[str, Any], mounts: list[dict[str, Any]],
               options: K8sOptions, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": resources,
        "volumeMounts": mounts,
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if ports:
        container["ports"] = ports
    if options.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": options.credentials_secret}}]
    return container


def spec_text(job: JobSpec, storage: str) -> str:
    """The spec as the cluster runs it: every default filled in, and the storage it must use."""
    import yaml

    return yaml.safe_dump({**job.resolved(), "storage": storage}, sort_keys=False)


def build_manifests(job: JobSpec, options: K8sOptions) -> list[dict[str, Any]]:
    """[ConfigMap, RayJob]; ``SpecError`` when the job cannot run as asked."""
    _check_fit(job, options)
    storage = _storage(job, options)
    name = kube_name(job.name)
    labels = {"app.kubernetes.io/name": "tune-jobs", "app.kubernetes.io/instance": name}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-spec", "namespace": options.namespace, "labels": labels},
        "data": {SPEC_FILE: spec_text(job, storage)},
    }
    volumes: list[dict[str, Any]] = [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": options.shm_size}}]
    mounts: list[dict[str, Any]] = [{"name": "shm", "mountPath": "/dev/shm"}]
    if options.volume_claim:
        volumes.append({"name": "results", "persistentVolumeClaim": {"claimName": options.volume_claim}})
        mounts.append({"name": "results", "mountPath": VOLUME_MOUNT})
    head_volumes = [*volumes, {"name": "spec", "configMap": {"name": f"{name}-spec"}}]
    head_mounts = [*mounts, {"name": "spec", "mountPath": SPEC_DIR, "readOnly": True}]
    head_resources = {"requests": {"cpu": str(options.head_cpus), "memory": options.head_memory},
                      "limits": {"cpu": str(options.head_cpus), "memory": options.head_memory}}
    worker_limits: dict[str, Any] = {"cpu": str(options.cpus_per_worker), "memory": options.memory_per_worker}
    if options.gpus_per_worker:
        worker_limits["nvidia.com/gpu"] = str(options.gpus_per_worker)
    worker_resources = {"requests": {"cpu": str(options.cpus_per_worker), "memory": options.memory_per_worker},
                        "limits": worker_limits}
    worker_pod: dict[str, Any] = {
        "containers": [_container("ray-worker", options.image, worker_resources, mounts, options)],
        "volumes": volumes,
    }
    if options.gpus_per_worker:
        worker_pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    head_pod = {
        "containers": [_container("ray-head", options.image, head_resources, head_mounts, options, ports=[
            {"containerPort": 6379, "name": "gcs-server"}, {"containerPort": 8265, "name": "dashboard"},
        ])],
        "volumes": head_volumes,
    }
    entrypoint = f"tune-jobs run {SPEC_DIR}/{SPEC_FILE} --address auto"
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": options.ttl_seconds_after_finished,
        "backoffLimit": options.backoff_limit,
        "rayClusterSpec": {
            "rayVersion": ray_version(),
            "authOptions": {"mode": "token"},
            "enableInTreeAutoscaling": False,
            "headGroupSpec": {
                "serviceType": "ClusterIP",
                "enableIngress": False,
                "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                "template": {"metadata": {"labels": labels}, "spec": head_pod},
            },
            "workerGroupSpecs": [{
                "groupName": "gpu" if options.gpus_per_worker else "cpu",
                "replicas": options.workers,
                "minReplicas": options.workers,
                "maxReplicas": options.workers,
                "rayStartParams": {},
                "template": {"metadata": {"labels": labels}, "spec": worker_pod},
            }],
        },
    }
    if options.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = options.active_deadline_seconds
    ray_job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels},
        "spec": spec,
    }
    return [config_map, ray_job]
