"""deploy/kubernetes: the kustomize base and the production overlay, rendered, validated against
the Kubernetes schemas (kubernetes-validate, strict) and checked for the properties an operator
relies on: non-root read-only containers, probes, pinned images, secrets only by reference,
a network policy, a disruption budget and the jobs around the Deployment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.kustomize import pod_templates, render
from trevor_backend.app import TrevorBackend

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.33.0"
LAYOUTS = {"base": KUBE / "base", "production": KUBE / "overlays" / "production"}
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL|CREDENTIAL", re.I)
# Env names that only look secret: the S3 key *id* is not a secret but is kept with its secret.
NOT_SECRET = {"AWS_DEFAULT_REGION"}


@pytest.fixture(params=sorted(LAYOUTS), scope="module")
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(LAYOUTS[request.param])


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) for every container of every workload."""
    out = []
    for doc in docs:
        for template in pod_templates(doc):
            pod = template["spec"]
            out += [(pod, c) for c in pod.get("containers", []) + pod.get("initContainers", [])]
    return out


def test_every_resource_is_valid_against_the_kubernetes_schemas(docs: list[dict[str, Any]]) -> None:
    crds = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            crds.append(doc["kind"])
    # Only the Prometheus Operator's CRD has no built-in schema; it is checked on its own below.
    assert crds == ["ServiceMonitor"]


def test_servicemonitor_scrapes_the_service_port(docs: list[dict[str, Any]]) -> None:
    (monitor,) = by_kind(docs, "ServiceMonitor")
    (service,) = by_kind(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]


def test_schema_validation_catches_a_mistake(docs: list[dict[str, Any]]) -> None:
    # The validator is strict: a misspelt field is an error, not silently dropped.
    (deployment,) = by_kind(docs, "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_container_is_non_root_read_only_unprivileged(docs: list[dict[str, Any]]) -> None:
    found = containers(docs)
    assert len(found) == 3  # backend, db upgrade, sync-projects
    for pod, c in found:
        sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, c["name"]
        assert sc.get("runAsUser", psc.get("runAsUser", 0)) != 0, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc.get("privileged", False) is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", c["name"]
        assert pod["automountServiceAccountToken"] is False, c["name"]
        # Writable places are volumes: /tmp and the data dir, as the image expects.
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/var/lib/trevor"} <= mounts, c["name"]
        assert c["resources"]["requests"] and c["resources"]["limits"], c["name"]


def test_the_uid_is_the_images(docs: list[dict[str, Any]]) -> None:
    containerfile = (ROOT / "deploy" / "Containerfile").read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", containerfile, re.M)
    for pod, c in containers(docs):
        uid = c.get("securityContext", {}).get("runAsUser", pod["securityContext"]["runAsUser"])
        assert str(uid) == user[0], c["name"]


def test_images_are_pinned(docs: list[dict[str, Any]]) -> None:
    for _, c in containers(docs):
        name, _, tag = c["image"].rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, c["image"]
        assert c["imagePullPolicy"] != "Always", c["name"]


def test_deployment_replicas_probes_spread(docs: list[dict[str, Any]]) -> None:
    (deployment,) = by_kind(docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert port_names["http"] == 8585  # the image's TREVOR_PORT
    keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
    assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys
    selector = spec["selector"]["matchLabels"]
    for t in pod["topologySpreadConstraints"]:
        assert t["labelSelector"]["matchLabels"] == selector
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()


def test_secrets_only_by_reference(docs: list[dict[str, Any]]) -> None:
    assert by_kind(docs, "Secret") == []  # operators create trevor-secrets outside git
    referenced = set()
    for _, c in containers(docs):
        for env in c.get("env", []):
            if SECRETISH.search(env["name"]) and env["name"] not in NOT_SECRET:
                assert "value" not in env, env["name"]
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "trevor-secrets"
                referenced.add(ref["key"])
    for cm in by_kind(docs, "ConfigMap"):
        for key, value in cm["data"].items():
            assert not SECRETISH.search(key) or key == "TREVOR_OIDC_CLIENT_ID", key
            assert "password" not in value.lower() and "secret_key" not in value.lower(), key
    assert {
        "database-url",
        "s3-access-key-id",
        "s3-secret-access-key",
        "oidc-client-secret",
        "audit-key",
        "signing-key",
    } <= referenced


def test_every_audit_writer_signs_with_the_deployments_key(docs: list[dict[str, Any]]) -> None:
    # serve and sync-projects write audit events; without the shared key each pod would sign
    # with a key generated in its own data dir and `audit verify` would fail.
    writers = [c for _, c in containers(docs) if c["args"][0] in ("serve", "sync-projects")]
    assert len(writers) == 2
    for c in writers:
        env = {e["name"]: e for e in c.get("env", [])}
        ref = env["TREVOR_AUDIT_KEY"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("trevor-secrets", "audit-key"), c["name"]
        assert "TREVOR_DATABASE_URL" in env, c["name"]


def test_pdb_keeps_a_replica_and_selects_the_deployment(docs: list[dict[str, Any]]) -> None:
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    (deployment,) = by_kind(docs, "Deployment")
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_network_policy_allows_only_the_named_peers(docs: list[dict[str, Any]]) -> None:
    (policy,) = by_kind(docs, "NetworkPolicy")
    spec = policy["spec"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    # It covers every trevor pod: the API, the migration Job and the sync CronJob.
    for doc in docs:
        for template in pod_templates(doc):
            labels = template["metadata"]["labels"]
            assert spec["podSelector"]["matchLabels"].items() <= labels.items(), doc["kind"]
    (rule,) = spec["ingress"]
    peers = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"]
    }
    assert peers == {"ingress-nginx", "jupyterhub", "monitoring"}
    assert rule["ports"] == [{"port": 8585, "protocol": "TCP"}]
    for egress in spec["egress"]:
        assert egress["to"] and egress["ports"]  # never "anywhere, any port"
    egress_ports = {p["port"] for e in spec["egress"] for p in e["ports"]}
    assert {53, 5432, 443} <= egress_ports


def test_jobs_run_the_cli(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    (job,) = by_kind(docs, "Job")
    (cron,) = by_kind(docs, "CronJob")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"][:2] == ["db", "upgrade"]
    (sync,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert sync["args"][0] == "sync-projects"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    # The projects file the CronJob reads is in the ConfigMap it mounts.
    (cm,) = by_kind(docs, "ConfigMap")
    assert Path(sync["args"][-1]).name in cm["data"]


def test_the_configmaps_config_file_loads(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    (cm,) = by_kind(docs, "ConfigMap")
    config = tmp_path / "trevor_backend_config.py"
    config.write_text(cm["data"]["trevor_backend_config.py"])
    app = TrevorBackend(config_file=str(config))
    app.load_config()
    assert app.ip == "0.0.0.0" and app.rate_limit_store == "database"


def test_production_overlay_changes_what_it_says() -> None:
    base, prod = render(LAYOUTS["base"]), render(LAYOUTS["production"])
    (deployment,) = by_kind(prod, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert {d["metadata"].get("namespace") for d in prod if d["kind"] != "Namespace"} == {"trevor"}
    assert by_kind(prod, "Ingress") and not by_kind(base, "Ingress")
    (ingress,) = by_kind(prod, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == by_kind(prod, "Service")[0]["metadata"]["name"]
    (ns,) = by_kind(prod, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
