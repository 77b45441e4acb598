"""cluster/gpu-cluster.yaml is a valid `ray up` config: checked against the schema Ray ships."""

import json
from pathlib import Path

import jsonschema
import ray.autoscaler
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_cluster_config_matches_rays_schema():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((ROOT / "cluster" / "gpu-cluster.yaml").read_text())
    jsonschema.validate(config, schema)
    assert config["head_node_type"] in config["available_node_types"]
    workers = config["available_node_types"]["ray.worker.gpu"]
    assert workers["max_workers"] <= config["max_workers"]
    head_start = " ".join(config["head_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head_start and "--dashboard-host=127.0.0.1" in head_start


def test_the_schema_check_catches_a_wrong_field():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((ROOT / "cluster" / "gpu-cluster.yaml").read_text())
    config["available_node_types"]["ray.worker.gpu"]["min_worker"] = 1  # a typo Ray must refuse
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as error:
        assert "min_worker" in error.message
    else:
        raise AssertionError("the schema accepted an unknown node-type field")
