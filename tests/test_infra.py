"""Container images and cluster manifests in infra/: lint the Dockerfiles with hadolint,
validate Kubernetes objects against the bundled Kubernetes schemas, and check the KubeRay
objects' required fields and that they agree with the project (Ray version, images)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from .conftest import ROOT

INFRA = ROOT / "infra"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _ray_pin() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'"ray\[[^\]]*\]==([0-9.]+)"', text).group(1)


@pytest.mark.parametrize(
    "dockerfile", sorted((INFRA / "docker").glob("*.Dockerfile")), ids=lambda p: p.name
)
def test_dockerfiles_pass_hadolint(dockerfile):
    proc = subprocess.run(
        [str(HADOLINT), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kubernetes_objects_are_valid():
    version = kubernetes_validate.utils.latest_version()
    checked = 0
    for path in sorted((INFRA / "k8s").glob("*.yaml")):
        for doc in _docs(path):
            if doc["apiVersion"].startswith("ray.io/"):
                continue
            kubernetes_validate.validate(doc, version, strict=True)
            checked += 1
    assert checked >= 2  # the vLLM Deployment and Service


def _check_ray_spec(spec: dict) -> None:
    assert spec["rayVersion"] == _ray_pin()
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    containers = head["template"]["spec"]["containers"]
    assert containers[0]["image"].split(":")[-1] and containers[0]["name"]
    groups = spec["workerGroupSpecs"]
    assert {g["groupName"] for g in groups} == {"cpu", "gpu"}
    for g in groups:
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        c = g["template"]["spec"]["containers"][0]
        assert c["resources"]["requests"] == c["resources"]["limits"]
    gpu = next(g for g in groups if g["groupName"] == "gpu")
    res = gpu["template"]["spec"]["containers"][0]["resources"]
    assert (
        res["limits"]["nvidia.com/gpu"] == "1"
        and "emodata-gpu" in gpu["template"]["spec"]["containers"][0]["image"]
    )
    # the pod spec parts must be valid Kubernetes pod specs
    version = kubernetes_validate.utils.latest_version()
    for template in [head["template"], *(g["template"] for g in groups)]:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "x"},
            "spec": template["spec"],
        }
        kubernetes_validate.validate(pod, version, strict=True)


def test_kuberay_cluster_and_job():
    (cluster,) = _docs(INFRA / "k8s" / "raycluster.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    _check_ray_spec(cluster["spec"])
    (job,) = _docs(INFRA / "k8s" / "rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["entrypoint"].startswith("emodata run ")
    assert "--config pipelines/default.yaml" in job["spec"]["entrypoint"]
    _check_ray_spec(job["spec"]["rayClusterSpec"])
