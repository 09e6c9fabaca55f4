"""docs/architecture.md is the map of kinterp/: every package and module on it is named there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()
# optimize/ is one entry of the map; its own __init__ docstring lists its modules.
SUMMARISED = {"optimize"}


def _names() -> list[str]:
    package = ROOT / "kinterp"
    names = [p.stem for p in package.glob("*.py")]
    for sub in sorted(p for p in package.iterdir() if (p / "__init__.py").exists()):
        names.append(f"{sub.name}/")
        if sub.name not in SUMMARISED:
            names += [p.stem for p in sub.glob("*.py") if p.stem != "__init__"]
            names += [f"{d.name}/" for d in sub.iterdir() if (d / "__init__.py").exists()]
    return names


def test_every_module_is_on_the_map():
    missing = [name for name in _names() if not re.search(rf"\b{re.escape(name)}", DOC)]
    assert missing == []
