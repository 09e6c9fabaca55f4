"""One lookup place for the names plugins register: techniques, datasets and commands.

Everything that turns a name into a registered object goes through here, with the same
"did you mean" hints; :mod:`kinterp.plugins` loads the plugins behind it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from kinterp.data.datasets import Dataset, dataset_from_path, is_image_folder
from kinterp.errors import KinterpError
from kinterp.plugins import PluginRecord, registry
from kinterp.technique import Technique


def _hint(name: str, known: list[str], fallback: str, cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=cutoff)
    return f"did you mean {', '.join(close)}?" if close else fallback


def find_technique(name: str) -> tuple[Technique, PluginRecord]:
    """An installed technique by name, or a one-line error suggesting the closest names."""
    techniques = registry().techniques
    if name in techniques:
        return techniques[name]
    hint = _hint(name, list(techniques), "see: kinterp plugins", cutoff=0.5)
    raise KinterpError(f"unknown technique {name!r}; {hint}")


def technique_summaries() -> dict[str, str]:
    """Installed techniques: name -> one-line summary, sorted by name."""
    return {name: tech.summary for name, (tech, _) in sorted(registry().techniques.items())}


def load_dataset(name_or_path: str, size: tuple[int, int] | None = None) -> Dataset:
    """A registered dataset by name, or a dataset file/folder by path.

    ``size`` (height, width) resizes the images of an image folder, which may hold any sizes.

    Raises:
        KinterpError: unknown name, or a path that is not a dataset.
    """
    datasets = registry().datasets
    if name_or_path in datasets:
        return datasets[name_or_path][0].load()
    if Path(name_or_path).exists():
        return dataset_from_path(Path(name_or_path), size=size)
    raise _unknown_dataset(name_or_path)


def _unknown_dataset(name: str) -> KinterpError:
    datasets = list(registry().datasets)
    hint = _hint(name, datasets, f"known: {', '.join(datasets)}")
    return KinterpError(f"unknown dataset {name!r}, and no such path; {hint}")


def preload_dataset(name_or_path: str) -> Dataset | None:
    """Check a run's ``--data`` before its model loads, loading it if that needs no model.

    Returns:
        The dataset of an ``.npz`` file or IDX folder (loaded now, so a bad or oversized file
        fails before the model is loaded), or None for a registered name or an image folder
        (loaded on first use; an image folder is resized to the model's geometry).

    Raises:
        KinterpError: an unknown name and no such path, or a file that does not load.
    """
    if name_or_path in registry().datasets:
        return None
    path = Path(name_or_path)
    if not path.exists():
        raise _unknown_dataset(name_or_path)
    if is_image_folder(path):
        return None
    return dataset_from_path(path)


def installed_techniques() -> list[Technique]:
    """Every installed technique, sorted by name."""
    return [tech for _, (tech, _) in sorted(registry().techniques.items())]
