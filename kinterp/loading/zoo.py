"""The shipped demo models (package ``kinterp_zoo``) and their model cards. No TensorFlow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ZooModel:
    """A shipped model: its name, file and card."""

    name: str
    path: Path
    card: dict[str, Any]


@lru_cache(maxsize=1)
def zoo_models() -> dict[str, ZooModel]:
    """Every shipped model, by name, read from the cards in ``kinterp_zoo``."""
    root = files("kinterp_zoo")
    models = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        card = json.loads(entry.read_text())
        path = Path(str(root / card["file"]))
        if path.is_file():
            models[card["name"]] = ZooModel(card["name"], path, card)
    return models
