"""The part of kustomize that deploy/kubernetes uses, in Python, so the tests can render the
manifests where no ``kubectl kustomize`` exists: resources (files and kustomization directories),
strategic-merge patches, namespace, labels (with pod templates), images and replicas.

It refuses any kustomization field it does not implement, so a manifest change that needs more
fails here instead of being rendered wrongly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "namespace", "labels", "images"}
SUPPORTED |= {"replicas"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to these manifests: maps merge key by key, lists
    of named maps (containers, volumes, env, ports) merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out = [copy.deepcopy(i) for i in base]
        names = [i["name"] for i in out]
        for item in patch:
            if item["name"] in names:
                at = names.index(item["name"])
                out[at] = _merge(out[at], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of a workload (Deployment, Job, CronJob, ...)."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]]
    return [spec["template"]] if "template" in spec else []


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: kustomization fields not supported here: {unknown}")
    docs: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        docs += render(target) if target.is_dir() else _load(target)

    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only file patches are supported: {patch}")
        for p in _load(directory / patch["path"]):
            at = [
                i
                for i, d in enumerate(docs)
                if (d["kind"], d["metadata"]["name"]) == (p["kind"], p["metadata"]["name"])
            ]
            if len(at) != 1:
                raise ValueError(f"patch {patch['path']} matches {len(at)} resources")
            docs[at[0]] = _merge(docs[at[0]], p)

    for rule in kustomization.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(rule["pairs"])
            if rule.get("includeTemplates"):
                for template in pod_templates(doc):
                    template.setdefault("metadata", {}).setdefault("labels", {}).update(
                        rule["pairs"]
                    )
            if rule.get("includeSelectors"):
                raise ValueError("includeSelectors is not supported here")

    for image in kustomization.get("images", []):
        for doc in docs:
            for template in pod_templates(doc):
                pod = template["spec"]
                for c in pod.get("containers", []) + pod.get("initContainers", []):
                    if c["image"] == image["name"]:
                        c["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"

    for rule in kustomization.get("replicas", []):
        (doc,) = [
            d
            for d in docs
            if d["metadata"]["name"] == rule["name"] and "replicas" in d.get("spec", {})
        ]
        doc["spec"]["replicas"] = rule["count"]

    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs
