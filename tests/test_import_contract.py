"""Dependencies point one way (tests/import_contract.py holds the contract and the checker).

The first test holds the tree to it; the others run the same checker on a copy of a package
with one deliberately wrong import each, to show that it would fail if the tree broke it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.import_contract import (
    BACKEND_LAYERS,
    CONTRACTS,
    JUPYTER_LAYERS,
    ROOT,
    Layers,
    violations,
)


@pytest.mark.parametrize("package", sorted(CONTRACTS))
def test_the_tree_keeps_the_import_contract(package: str) -> None:
    root, layers = CONTRACTS[package]
    assert violations(root, package, layers) == []


def _copy(package: str, src_root: Path, dst_root: Path) -> Path:
    """The package's Python files under ``dst_root`` (nothing else is read)."""
    src = src_root / package
    for path in src.rglob("*.py"):
        target = dst_root / package / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dst_root


def _add(root: Path, package: str, layers: Layers, modules: dict[str, str]) -> list[str]:
    """Violations that adding ``modules`` (name: source) to the copy brings."""
    before = set(violations(root, package, layers))
    for module, source in modules.items():
        path = root / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return [v for v in violations(root, package, layers) if v not in before]


@pytest.fixture
def backend_copy(tmp_path: Path) -> Path:
    return _copy("trevor_backend", ROOT / "backend", tmp_path)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # a new top-level module has to be placed in a layer
        (
            "trevor_backend.orm_extra",
            "",
            "trevor_backend.orm_extra is in no layer",
        ),
        # storage reaching up to a service
        (
            "trevor_backend.storage.upward",
            "from ..services import audit\n",
            "upward import: trevor_backend.storage.upward imports trevor_backend.services.audit",
        ),
        # the job framework must not know the services whose jobs it runs
        (
            "trevor_backend.jobs.upward",
            "from trevor_backend.services.context import Context\n",
            "upward import: trevor_backend.jobs.upward imports trevor_backend.services.context",
        ),
        # a service reaching up to a handler, inside a function and for typing only
        (
            "trevor_backend.services.upward",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from ..handlers.base import BaseHandler\n",
            "upward import: trevor_backend.services.upward imports trevor_backend.handlers.base",
        ),
        (
            "trevor_backend.services.nested",
            "def f():\n    from trevor_backend import web\n",
            "upward import: trevor_backend.services.nested imports trevor_backend.web",
        ),
        # the backend does not need the Jupyter side, not even for its version
        (
            "trevor_backend.services.version_of",
            'VERSION = __import__("jupyter_trevor._version").__version__\n',
            "forbidden import: trevor_backend.services.version_of imports jupyter_trevor._version",
        ),
        # a handler goes through a service, not straight to the rule engine
        (
            "trevor_backend.handlers.shortcut",
            "from ..sdc.params import Params\n",
            "skips the services: trevor_backend.handlers.shortcut imports "
            "trevor_backend.sdc.params",
        ),
        # siblings of one layer are independent
        (
            "trevor_backend.sdc.sideways",
            "from trevor_backend.storage import ObjectStore\n",
            "independent groups of one layer: trevor_backend.sdc.sideways imports "
            "trevor_backend.storage",
        ),
    ],
)
def test_the_checker_catches_a_wrong_import(
    backend_copy: Path, module: str, source: str, expected: str
) -> None:
    found = _add(backend_copy, "trevor_backend", BACKEND_LAYERS, {module: source})
    assert len(found) == 1 and expected in found[0], found


def test_the_checker_catches_a_cycle(backend_copy: Path) -> None:
    # Both modules in one layer, so only the cycle rule can see it.
    found = _add(
        backend_copy,
        "trevor_backend",
        BACKEND_LAYERS,
        {
            "trevor_backend.services.ping": "from . import pong\n",
            "trevor_backend.services.pong": "from .ping import x\n",
        },
    )
    assert found == [
        "import cycle among trevor_backend.services.ping, trevor_backend.services.pong: "
        "trevor_backend.services.ping imports trevor_backend.services.pong (line 1); "
        "trevor_backend.services.pong imports trevor_backend.services.ping (line 1)"
    ]


def test_the_kernel_side_stays_apart_from_the_server_side(tmp_path: Path) -> None:
    root = _copy("jupyter_trevor", ROOT, tmp_path)
    found = _add(
        root,
        "jupyter_trevor",
        JUPYTER_LAYERS,
        {"jupyter_trevor.kernel.upload": "from ..client import BackendClient\n"},
    )
    assert found == [
        "import between independent groups of one layer: jupyter_trevor.kernel.upload "
        "imports jupyter_trevor.client (line 1)"
    ]
