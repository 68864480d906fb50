"""The apps import only downwards: retarget -> conversations -> campaigns -> consent -> core, and the
WhatsApp integration (client, webhooks, sandbox) beside them, importing core alone.

Every import statement of every app module counts, function-local ones included: an import that only
runs inside a function is still a dependency. Migrations are history and are not checked.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each app may import besides itself. The domain apps in layer order; whatsapp knows no domain app.
ALLOWED = {
    "core": set(),
    "whatsapp": {"core"},
    "consent": {"core"},
    "campaigns": {"consent", "core", "whatsapp"},
    "conversations": {"campaigns", "consent", "core", "whatsapp"},
    "retarget": {"conversations", "campaigns", "consent", "core", "whatsapp"},
}
APPS = set(ALLOWED)

# Function-local imports of our own modules that stay function-local, as (file, module): why. Any other
# fails: an import that only dodged a cycle which no longer exists belongs at the top of the module.
# apps.py modules are left out: AppConfig.ready() runs once the app registry is loaded, and models
# cannot be imported before.
LOCAL_IMPORTS_WHY = {
    # A service enqueues a task, and the task module imports the service it runs.
    ("whatsapp/services.py", "whatsapp.tasks"): "services <-> tasks",
    ("whatsapp/template_sync.py", "whatsapp.tasks"): "template_sync <-> tasks",
    ("campaigns/services.py", "campaigns.tasks"): "services <-> tasks",
    # A segment validates on Segment.clean(), and segments build querysets of the campaign models.
    ("campaigns/models.py", "campaigns.segments"): "models <-> segments",
    # gunicorn reads its config module before the WSGI app sets Django up: the hooks run in a worker
    # once the app is loaded, and only there may a module with models be imported.
    ("retarget/gunicorn_conf.py", "whatsapp.services"): "gunicorn config is read before Django is set up",
}


def _app_modules() -> list[Path]:
    return sorted(
        path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.relative_to(ROOT).parts
    )


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute module names a statement imports (relative imports resolved against ``module``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    package = module.split(".")
    base = package[: len(package) - node.level + (1 if is_package else 0)]
    return [".".join([*base, *([node.module] if node.module else [])])]


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import statement of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    local_ids = {
        id(inner)
        for outer in ast.walk(tree)
        if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(outer)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    }
    module, is_package = _module_name(path, root), path.name == "__init__.py"
    return [
        (node.lineno, imported, id(node) in local_ids)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for imported in _imported_modules(node, module, is_package)
    ]


@functools.cache
def _app_imports() -> dict[Path, list[tuple[int, str, bool]]]:
    """Every app module's imports, read once for the three checks below (parsing them all takes seconds)."""
    return {path: _imports(path) for path in _app_modules()}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_apps_import_only_the_layers_below_them():
    violations = []
    for path, imports in _app_imports().items():
        app = _rel(path).split("/")[0]
        for line, imported, _ in imports:
            target = imported.split(".")[0]
            if target in APPS and target != app and target not in ALLOWED[app]:
                may = ", ".join(sorted(ALLOWED[app])) or "none of the other apps"
                violations.append(f"{_rel(path)}:{line} imports {imported}: {app} may import only {may}")
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_function_local_imports_of_our_modules_are_justified():
    unjustified = []
    for path, imports in _app_imports().items():
        for line, imported, local in imports:
            ours = imported.split(".")[0] in APPS
            if local and ours and path.name != "apps.py" and (_rel(path), imported) not in LOCAL_IMPORTS_WHY:
                unjustified.append(f"{_rel(path)}:{line} imports {imported} inside a function")
    assert not unjustified, (
        "function-local imports of our own modules: move them to the top of the module, or say in "
        "LOCAL_IMPORTS_WHY which cycle they break:\n" + "\n".join(unjustified)
    )


def test_the_checker_sees_local_and_relative_imports(tmp_path):
    """The checks above read what they claim to: nested, relative and ``from`` imports alike."""
    package = tmp_path / "consent" / "sub"
    package.mkdir(parents=True)
    module = package / "mod.py"
    module.write_text("import core.x\nfrom .. import models\n\ndef f():\n    from campaigns.models import Campaign\n")
    assert _imports(module, root=tmp_path) == [(1, "core.x", False), (2, "consent", False), (5, "campaigns.models", True)]


def test_every_justified_local_import_is_still_there():
    found = {(_rel(path), imported) for path, imports in _app_imports().items() for _, imported, local in imports if local}
    stale = sorted(set(LOCAL_IMPORTS_WHY) - found)
    assert not stale, f"LOCAL_IMPORTS_WHY names imports that are gone or now at the top: {stale}"
