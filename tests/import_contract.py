"""The import contract: which of our modules may import which (docs/developers.md, "Layers").

A small AST reader instead of a linter dependency: it sees every ``import`` in a module —
top-level, inside functions and under ``if TYPE_CHECKING:`` alike, because each is a
dependency someone reading or moving the module has to know about — and checks two rules:

* **layers**: a module may import its own layer and the layers below it, never one above;
  the groups of one layer (``(orm, storage, …)``) are independent of one another;
* **no cycles** among the modules of a package, counted from one module to another (a
  package's ``__init__`` re-exporting its own modules is not a cycle unless they import it back).

A module that no layer names is itself a violation, so a new top-level module has to be
placed in the contract. ``tests/test_import_contract.py`` runs it on the tree and on a
deliberately wrong copy.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each layer is a tuple of independent groups; each group a tuple of module prefixes.
Layers = Sequence[Sequence[Sequence[str]]]

# trevor_backend, top to bottom. `jobs` is the job framework: it knows leases and a context,
# not what the jobs do — the concrete jobs live with their services and register with it.
BACKEND_LAYERS: Layers = [
    # The command line's subcommands act on the Application, which names them by import path.
    [("commands",)],
    [("app", "demo", "web", "openapi.__main__", "alembic")],
    [("dashboard",)],
    [("handlers", "openapi")],
    # The running backend (services, authenticator, limits) that handlers are given.
    [("runtime",)],
    [("auth",)],
    [("services",)],
    # The lean read path's drivers, SQL and JSON (below the services that decide what it
    # reads and who may see it); it knows neither the ORM nor the API models.
    [("serialize",), ("reads",)],
    [("metrics", "ratelimit", "db", "tracing", "_logging", "allocator")],
    [("orm",), ("storage",), ("sdc",), ("jobs",), ("schemas",)],
    [("principal",)],
    # the package itself (its __init__ holds nothing) at the bottom: importing it is harmless
    [("contract",), ("errors",), ("version",), ("",)],
]

# jupyter_trevor: the server extension above the code it drives; the kernel side (imported
# into the researcher's kernel) beside it and independent of it; both share the workspace
# layout and the version.
JUPYTER_LAYERS: Layers = [
    [("", "extension")],
    [("handlers", "outputs_watch", "release_download")],
    [("client", "inbox", "workspace_outputs"), ("kernel",)],
    [("workspace",), ("_version",)],
]

# Packages a package must not import at all: the backend runs without the Jupyter side.
FORBIDDEN: dict[str, tuple[str, ...]] = {"trevor_backend": ("jupyter_trevor",)}

# Layers a group may not skip to, though they are below it: handlers reach rows, the rule
# engine and jobs through the services (which decide), never directly.
SKIPS: dict[str, dict[str, tuple[str, ...]]] = {
    "trevor_backend": {"handlers": ("orm", "sdc", "jobs")},
}

CONTRACTS: dict[str, tuple[Path, Layers]] = {
    "trevor_backend": (ROOT / "backend", BACKEND_LAYERS),
    "jupyter_trevor": (ROOT, JUPYTER_LAYERS),
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (found under ``root``) by dotted name."""
    found = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(root: Path, package: str, *, foreign: bool = False) -> list[Import]:
    """The imports between modules of ``package`` (with ``foreign``, those of anything else);
    ``from pkg import mod`` names ``pkg.mod``; ``__import__("x")`` and
    ``importlib.import_module("x")`` with a literal name count as imports too."""
    known = modules(root, package)
    top = package.split(".")[0]
    found: list[Import] = []
    for name, path in known.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [(a.name, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here[: len(here) - node.level + 1]
                    base = ".".join([*parent, *([node.module] if node.module else [])])
                targets = [
                    (f"{base}.{a.name}" if f"{base}.{a.name}" in known else base, node.lineno)
                    for a in node.names
                ]
            elif (dynamic := _dynamic(node)) is not None:
                targets = [(dynamic, node.lineno)]
            else:
                continue
            for target, line in targets:
                ours = target == top or target.startswith(top + ".")
                if ours and not foreign:
                    found.append(Import(name, _known_prefix(target, known), line))
                elif foreign and not ours:
                    found.append(Import(name, target, line))
    return list(dict.fromkeys(found))


def _dynamic(node: ast.AST) -> str | None:
    """The module a call ``__import__("x")`` / ``importlib.import_module("x")`` imports."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func, first = node.func, node.args[0]
    named = (isinstance(func, ast.Name) and func.id == "__import__") or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _known_prefix(target: str, known: Iterable[str]) -> str:
    names = set(known)
    while target not in names and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _place(module: str, package: str, layers: Layers) -> tuple[int, int] | None:
    """(layer, group) of ``module`` by the longest matching prefix; None if unplaced."""
    rel = module[len(package) + 1 :] if module != package else ""
    best: tuple[int, tuple[int, int]] | None = None
    for li, layer in enumerate(layers):
        for gi, group in enumerate(layer):
            for prefix in group:
                matches = rel == prefix or (prefix and rel.startswith(prefix + "."))
                if matches and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), (li, gi))
    return best[1] if best else None


def layer_violations(package: str, found: Iterable[Import], layers: Layers) -> Iterator[str]:
    for imp in found:
        a = _place(imp.importer, package, layers)
        b = _place(imp.imported, package, layers)
        if imp.importer == imp.imported or a is None or b is None:
            continue
        if b[0] < a[0]:
            yield f"upward import: {imp}"
        elif b[0] == a[0] and b[1] != a[1]:
            yield f"import between independent groups of one layer: {imp}"


def cycles(found: Iterable[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.importer != imp.imported:
            graph.setdefault(imp.importer, set()).add(imp.imported)
            graph.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path, package: str, layers: Layers) -> list[str]:
    found = imports(root, package)
    problems = [
        f"{module} is in no layer of the contract (tests/import_contract.py)"
        for module in modules(root, package)
        if _place(module, package, layers) is None
    ]
    problems += layer_violations(package, found, layers)
    problems += [
        f"forbidden import: {imp}"
        for imp in imports(root, package, foreign=True)
        for banned in FORBIDDEN.get(package, ())
        if imp.imported == banned or imp.imported.startswith(banned + ".")
    ]
    problems += [
        f"skips the services: {imp}"
        for imp in found
        for group, banned in SKIPS.get(package, {}).items()
        if _within(imp.importer, f"{package}.{group}")
        and any(_within(imp.imported, f"{package}.{b}") for b in banned)
    ]
    for component in cycles(found):
        edges = [str(i) for i in found if i.importer in component and i.imported in component]
        problems.append(f"import cycle among {', '.join(component)}: " + "; ".join(edges))
    return problems
