"""KubeRay ``RayJob`` manifests for a job spec (``tune-jobs k8s``): pure data, no cluster needed."""
