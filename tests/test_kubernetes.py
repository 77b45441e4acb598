"""`tune-jobs k8s`: RayJob manifests validated against KubeRay's CRDs and Kubernetes' schemas,
the checked-in examples kept in sync, and the jobs that cannot run refused."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.k8s_schema import CRD_DIR, pod_templates, validate_kubernetes, validate_rayjob
from tune_jobs.cli import app
from tune_jobs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "cluster" / "kubernetes"
needs_crds = pytest.mark.skipif(not CRD_DIR.is_dir(), reason=f"no KubeRay CRDs at {CRD_DIR}")
SPEC = "examples/digits_mlp.yaml"
IMAGE = ["--image", "ghcr.io/your-org/tune-jobs:0.1.0-gpu"]


def k8s(*args):
    result = CliRunner().invoke(app, ["k8s", *args])
    return result.exit_code, result.stdout, result.stderr


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


OPTION_SETS = {
    "4 workers x 2 GPUs, 0.5 GPU per trial, s3": ["--workers", "4", "--gpus-per-worker", "2", "--set", "resources.gpu=0.5",
                                                   "--storage", "s3://bucket/path", "--credentials-secret", "s3-keys"],
    "CPU only on a volume, deadline": ["--gpus-per-worker", "0", "--cpus-per-worker", "4", "--memory-per-worker", "8Gi",
                                       "--volume-claim", "tune-results", "--active-deadline-seconds", "7200",
                                       "--namespace", "ml", "--backoff-limit", "0"],
    "one GPU per trial, gs": ["--workers", "2", "--gpus-per-worker", "8", "--cpus-per-worker", "64", "--set",
                              "resources={cpu: 4, gpu: 1}", "--storage", "gs://team/tune", "--ttl-seconds-after-finished", "0"],
}


@needs_crds
@pytest.mark.parametrize("case", OPTION_SETS)
def test_generated_manifests_validate(case, in_repo):
    code, out, err = k8s(SPEC, *IMAGE, *OPTION_SETS[case])
    assert code == 0, err
    config_map, rayjob = documents(out)
    validate_rayjob(rayjob)
    validate_kubernetes(config_map)
    for pod in pod_templates(rayjob):
        validate_kubernetes(pod)


def test_the_4x2_gpu_manifest_says_what_a_user_asked_for(in_repo, tmp_path):
    code, out, err = k8s(SPEC, *IMAGE, *OPTION_SETS["4 workers x 2 GPUs, 0.5 GPU per trial, s3"])
    assert code == 0, err
    assert "4 worker(s) x 4 concurrent trial(s) each" in err
    config_map, rayjob = documents(out)
    spec = rayjob["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] == 2 and spec["ttlSecondsAfterFinished"] == 3600
    assert spec["entrypoint"] == "tune-jobs run /etc/tune-jobs/job.yaml --address auto"
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    head = cluster["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP" and head["enableIngress"] is False
    assert head["rayStartParams"]["num-cpus"] == "0"
    (workers,) = cluster["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 4
    pod = workers["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "s3-keys"}}]
    # The spec the cluster runs: the same job (same identity, so a retry resumes), results to s3.
    shipped = tmp_path / "job.yaml"
    shipped.write_text(config_map["data"]["job.yaml"])
    job = load_spec(shipped, [])
    original = load_spec(ROOT / SPEC, ["resources.gpu=0.5"])
    assert job.sha256() == original.sha256() and job.storage == "s3://bucket/path"
    mounts = head["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "spec", "mountPath": "/etc/tune-jobs", "readOnly": True} in mounts


@pytest.mark.parametrize("args, message", [
    (["--set", "resources.gpu=2", "--gpus-per-worker", "1"],
     "resources.gpu: a trial needs 2 GPU(s) but a worker has 1 (--gpus-per-worker); no trial could ever start"),
    (["--set", "resources.gpu=0.5", "--gpus-per-worker", "0", "--storage", "s3://b/p"],
     "resources.gpu: a trial needs 0.5 GPU(s) but a worker has 0 (--gpus-per-worker); no trial could ever start"),
    (["--set", "resources.cpu=16", "--cpus-per-worker", "8", "--storage", "s3://b/p"],
     "resources.cpu: a trial needs 16 CPUs but a worker has 8 (--cpus-per-worker); no trial could ever start"),
    ([], "--storage: 'results' is a path inside the pods, and would be lost with the cluster; give an s3:// or gs:// "
         "URI, or --volume-claim NAME (a ReadWriteMany volume mounted at /results)"),
    (["--volume-claim", "v", "--storage", "/data/x"], "--storage: '/data/x' is outside the volume mounted at /results"),
    (["--storage", "s3://b/p", "--memory-per-worker", "lots"], "--memory-per-worker: a Kubernetes quantity like 32Gi"),
])
def test_jobs_that_cannot_run_are_refused_with_one_line(args, message, in_repo):
    code, out, err = k8s(SPEC, *IMAGE, *args)
    assert code == 2 and out == ""
    assert err.strip().splitlines()[0].startswith(message), err
    assert "Traceback" not in err


def test_a_volume_claim_is_mounted_everywhere_and_holds_the_results(in_repo):
    code, out, err = k8s(SPEC, *IMAGE, "--volume-claim", "tune-results", "--gpus-per-worker", "0")
    assert code == 0, err
    config_map, rayjob = documents(out)
    assert yaml.safe_load(config_map["data"]["job.yaml"])["storage"] == "/results/results"
    for pod in pod_templates(rayjob):
        assert {"name": "results", "mountPath": "/results"} in pod["spec"]["containers"][0]["volumeMounts"]
        assert "tolerations" not in pod["spec"]


def example_files():
    return sorted(EXAMPLES.glob("*.yaml"))


@needs_crds
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_checked_in_examples_are_what_the_command_prints_and_validate(path, in_repo):
    text = path.read_text()
    header = text.splitlines()[0]
    assert header.startswith("# generated by: tune-jobs k8s "), f"{path.name}: first line must name its command"
    args = shlex.split(header.removeprefix("# generated by: tune-jobs k8s "))
    code, out, err = k8s(*args)
    assert code == 0, err
    body = "\n".join(text.splitlines()[1:]) + "\n"
    assert body == out, f"{path.name} is out of date: regenerate it with the command on its first line"
    config_map, rayjob = documents(out)
    validate_rayjob(rayjob)
    validate_kubernetes(config_map)
    for pod in pod_templates(rayjob):
        validate_kubernetes(pod)


def test_there_are_examples():
    assert len(example_files()) >= 2


@needs_crds
def test_the_crd_check_catches_mistakes():
    import jsonschema

    code, out, err = k8s(str(ROOT / SPEC), *IMAGE, "--storage", "s3://b/p")
    assert code == 0, err
    rayjob = documents(out)[1]
    rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replica"] = 3  # a typo
    with pytest.raises(jsonschema.ValidationError, match="replica"):
        validate_rayjob(rayjob)
    rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("replica")
    rayjob["spec"]["rayClusterSpec"]["authOptions"]["mode"] = "password"
    with pytest.raises(jsonschema.ValidationError, match="password"):
        validate_rayjob(rayjob)
