"""Validation of manifests offline: KubeRay's CRD schemas (from ../shared/kuberay-crds) with
jsonschema, and Kubernetes' own schemas for pods and ConfigMaps with kubernetes-validate."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parents[2] / "shared" / "kuberay-crds"
KUBERNETES_VERSION = "1.30.0"


def crd_schema(kind_file: str, version: str = "v1") -> dict[str, Any]:
    crd = yaml.safe_load((CRD_DIR / kind_file).read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    return strict(copy.deepcopy(schema))


def strict(schema: Any) -> Any:
    """Unknown fields become errors, as with `kubectl apply --validate=strict` (the API server
    would otherwise drop them silently), except where the CRD keeps unknown fields on purpose."""
    if isinstance(schema, dict):
        for value in schema.values():
            strict(value)
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        for item in schema:
            strict(item)
    return schema


def validate_rayjob(document: dict[str, Any]) -> None:
    jsonschema.validate(document, crd_schema("ray.io_rayjobs.yaml"))


def validate_kubernetes(document: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def pod_templates(rayjob: dict[str, Any]) -> list[dict[str, Any]]:
    """Each group's pod template as a Pod, for Kubernetes' own schema."""
    cluster = rayjob["spec"]["rayClusterSpec"]
    groups = [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])]
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{rayjob['metadata']['name']}-{name}",
                                                              **group["template"].get("metadata", {})},
             "spec": group["template"]["spec"]} for name, group in groups]
