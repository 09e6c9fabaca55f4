"""Starting images: zeros, ones, half, uniform, normal, or a file (``image:PATH``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kinterp.errors import KinterpError
from kinterp.loading.models import LoadedModel
from kinterp.toolkit.optimize.parameterize import Parameterisation

INIT_NAMES = ("zeros", "ones", "half", "uniform", "normal")
DEFAULT_INIT = ("uniform",)  # the --init default of the optimisation techniques
RESTART_NOISE = 0.05  # std of the noise added to a deterministic init on restarts 2, 3, ...


def parse_init(spec: str) -> tuple[str, str | None]:
    """``"uniform"`` -> ("uniform", None); ``"image:a.png"`` -> ("image", "a.png").

    Raises:
        ValueError: an unknown name, or ``image:`` without a path (the message says which).
    """
    name, sep, path = spec.strip().partition(":")
    if name.lower() == "image" and sep:
        if not path:
            raise ValueError("image: needs a path, as in image:digit.png")
        return "image", path
    if sep or name not in INIT_NAMES:
        raise ValueError(
            f"unknown init {spec!r}; choose from {', '.join(INIT_NAMES)} or image:PATH"
        )
    return name, None


def init_batch(
    name: str,
    count: int,
    shape: tuple[int, int, int],
    rng: np.random.Generator,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` starting images (count, H, W, C) in [0, 1] for one init.

    The first is the init itself; deterministic inits (zeros, ones, half, image) get a little
    Gaussian noise on the others so random restarts differ.

    Args:
        name: one of :data:`INIT_NAMES` or ``"image"``.
        count: how many (the restarts).
        shape: (H, W, C).
        rng: the source of randomness.
        image: the (H, W, C) picture for ``"image"``.
    """
    makers: dict[str, Callable[[], np.ndarray]] = {
        "zeros": lambda: np.zeros((count, *shape)),
        "ones": lambda: np.ones((count, *shape)),
        "half": lambda: np.full((count, *shape), 0.5),
        "uniform": lambda: rng.uniform(0.0, 1.0, (count, *shape)),
        "normal": lambda: 0.5 + 0.15 * rng.standard_normal((count, *shape)),
        "image": lambda: np.broadcast_to(np.asarray(image).reshape(shape), (count, *shape)),
    }
    if name not in makers:
        raise ValueError(f"unknown init {name!r}")
    batch = np.array(makers[name](), dtype="float32")
    if name not in ("uniform", "normal") and count > 1:
        batch[1:] += RESTART_NOISE * rng.standard_normal(batch[1:].shape)
    return np.clip(batch, 0.0, 1.0).astype("float32")


@dataclass(frozen=True)
class StartImages:
    """The ``--init`` choices of a run: names, and the loaded picture of each ``image:PATH``."""

    names: list[str]
    pictures: dict[str, np.ndarray | None]

    def batch(self, restarts: int, shape: tuple[int, int, int], rng: np.random.Generator):
        """(inits, restarts, H, W, C) starting images, the same for every target."""
        return np.stack(
            [
                init_batch("image" if picture is not None else name, restarts, shape, rng, picture)
                for name, picture in self.pictures.items()
            ]
        )


def load_starts(
    model: LoadedModel, specs: list[str], parameterisation: Parameterisation | None = None
) -> StartImages:
    """Parse ``--init`` values and load every ``image:PATH`` at the model's geometry.

    Under a ``parameterisation`` that never looks at starting images (Fourier starts from a
    small random spectrum), any ``--init`` but the default is refused rather than ignored.

    Raises:
        KinterpError: an unknown init, an image that cannot be read or has another size, or
            an ``--init`` the parameterisation would ignore.
    """
    refuse_unused_init(specs, parameterisation)
    shape = model.require_image()
    names, pictures = [], {}
    for spec in dict.fromkeys(s.strip() for s in specs):
        try:
            kind, path = parse_init(spec)
        except ValueError as exc:
            raise KinterpError(f"--init: {exc}") from None
        names.append(spec if kind == "image" else kind)
        pictures[names[-1]] = None if path is None else _load_picture(model, spec, path, shape)
    return StartImages(names, pictures)


def refuse_unused_init(specs: list[str], parameterisation: Parameterisation | None) -> None:
    """Refuse ``--init`` values other than the default under a parameterisation that ignores
    starting images (Fourier), as ``--data`` is refused where no data is read.

    Raises:
        KinterpError: one line, naming the values and the two ways out.
    """
    given = [s.strip() for s in specs]
    if parameterisation is None or parameterisation.uses_starts or given == list(DEFAULT_INIT):
        return
    raise KinterpError(
        f"--init {','.join(given)} would be ignored: --parameterisation "
        f"{parameterisation.name} starts from a small random spectrum, not from starting "
        "images; drop --init or use --parameterisation pixels"
    )


def _load_picture(
    model: LoadedModel, spec: str, path: str, shape: tuple[int, int, int]
) -> np.ndarray:
    """The pixels of an ``image:PATH`` init, which must already have the model's size."""
    from kinterp.data.preprocess import BadImage, open_image, prepare_image

    height, width, channels = shape
    if channels not in (1, 3):
        raise KinterpError(f"--init image: needs a model with 1 or 3 channels, not {channels}")
    try:
        with open_image(path) as opened:
            size = opened.size
        if size != (width, height):
            raise KinterpError(
                f"--init {spec}: the image is {size[0]}x{size[1]} but "
                f"{model.info.name} takes {width}x{height}; resize it first"
            )
        return prepare_image(path, height, width, channels, mnistify=False).pixels
    except BadImage as exc:
        raise KinterpError(f"--init {spec}: {exc}") from None
