"""The architecture rule: tarot/ imports only the standard library, Pillow, Babel and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import tarotbot.tarot

PACKAGE = Path(tarotbot.tarot.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_tarot_imports_nothing_of_the_app():
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("tarotbot.tarot") or top in ("PIL", "babel", "__future__"):
                continue
            if top in sys.stdlib_module_names:
                continue
            offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders


def test_importing_tarot_loads_no_app_module():
    import subprocess

    code = (
        "import sys, tarotbot.tarot.compose, tarotbot.tarot.render, tarotbot.tarot.safety, "
        "tarotbot.tarot.prompt;"
        "bad = [m for m in sys.modules if m.startswith('tarotbot.') "
        "and not m.startswith('tarotbot.tarot')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = PACKAGE.parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
