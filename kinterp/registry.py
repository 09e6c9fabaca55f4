"""One lookup place for what plugins register: techniques, datasets, dataset formats,
perturbation families and commands.

Everything that turns a name into a registered object goes through here, with the same
"did you mean" hints; :mod:`kinterp.plugins` loads the plugins behind it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from kinterp.data.datasets import Dataset, DatasetFormat, dataset_from_path, find_format
from kinterp.errors import KinterpError
from kinterp.plugins import CORE_PLUGINS, PluginRecord, families, registry
from kinterp.technique import Technique
from kinterp.toolkit.perturb import Family


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


def load_dataset(
    name_or_path: str, size: tuple[int, int] | None = None, channels: int | None = None
) -> Dataset:
    """A registered dataset by name, or a dataset file/folder by path.

    ``size`` (height, width) and ``channels`` fit the images of an image folder, which may
    hold any sizes, grey or RGB, to a model (see ``load_image_folder``).

    Raises:
        KinterpError: unknown name, or a path that is not a dataset.
    """
    datasets = registry().datasets
    if name_or_path in datasets:
        return datasets[name_or_path][0].load()
    path = Path(name_or_path)
    if path.exists():
        return dataset_from_path(path, size=size, formats=dataset_formats(), channels=channels)
    raise _unknown_dataset(name_or_path)


def dataset_formats() -> list[DatasetFormat]:
    """Every registered dataset format, in the order a path is tried against them: the
    plugins' formats first (in the order ``kinterp plugins`` lists their plugins, so a plugin
    can claim a folder before the image-folder format takes any folder), then the built-in
    npz, IDX folder and image folder."""
    found = list(registry().formats.values())
    return [fmt for fmt, record in found if record.name not in CORE_PLUGINS] + [
        fmt for fmt, record in found if record.name in CORE_PLUGINS
    ]


def _unknown_dataset(name: str) -> KinterpError:
    datasets = list(registry().datasets)
    hint = _hint(name, datasets, f"known: {', '.join(datasets)}")
    return KinterpError(f"unknown dataset {name!r}, and no such path; {hint}")


def preload_dataset(name_or_path: str) -> Dataset | None:
    """Check a run's ``--data`` before its model loads, loading it if that needs no model.

    Returns:
        The dataset of a path whose format does not resize (an ``.npz`` file, an IDX folder:
        loaded now, so a bad or oversized file fails before the model is loaded), or None for
        a registered name or a path whose format resizes its images to the model's (an image
        folder: loaded on first use).

    Raises:
        KinterpError: an unknown name and no such path, a path in no known format, or a file
            that does not load.
    """
    if name_or_path in registry().datasets:
        return None
    path = Path(name_or_path)
    if not path.exists():
        raise _unknown_dataset(name_or_path)
    fmt = find_format(path, dataset_formats())
    return None if fmt.resizes else fmt.load(path, size=None)


def perturbation_families() -> dict[str, Family]:
    """Every registered perturbation family by name, the built-in ones first.

    Reads the first stage of collection only (:func:`kinterp.plugins.families`), so a
    technique's ``Params`` may call it while techniques are being collected.
    """
    return {name: family for name, (family, record) in families().items() if record.status == "ok"}


def installed_techniques() -> list[Technique]:
    """Every installed technique, sorted by name."""
    return [tech for _, (tech, _) in sorted(registry().techniques.items())]
