"""An uploaded model checked in a short-lived subprocess, never in the server process.

The server runs ``python -m kinterp.serve.modelcheck FILE`` (an absolute path). The child
limits its own address space (:data:`CHECK_MEMORY_BYTES`) before importing anything heavy,
loads FILE in Keras safe mode (:func:`kinterp.loading.models.load_model`, which checks the bytes and
the declared sizes first) and prints one JSON line: ``{"summary": ...}``, or ``{"error": ...,
"code": ...}`` for a refusal (``code``: the model contains code, such as a Lambda layer). A
hostile model can only grow, crash or stall the child, which the parent reports as a one-line
refusal.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError

CHECK_MEMORY_BYTES = 6 * 2**30
"""The child's address-space limit (TensorFlow alone reserves about 2 GiB of it)."""
CHECK_TIMEOUT_S = 600
"""How long a check may take (TensorFlow's import alone takes seconds on a busy machine)."""


class ContainsCode(KinterpError):
    """The model loads only with ``unsafe`` (it contains code, e.g. a Lambda layer)."""


def check_model(path: Path) -> dict[str, Any]:
    """Load ``path`` in safe mode in a subprocess; return its summary (without its path).

    Raises:
        ContainsCode: the model contains code.
        KinterpError: it is not a loadable model, or the check ran out of memory or time.
    """
    command = [sys.executable, "-m", "kinterp.serve.modelcheck", str(path.resolve())]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        )
    except subprocess.TimeoutExpired:
        raise KinterpError(f"{path.name}: loading it took over {CHECK_TIMEOUT_S} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    except ValueError:
        answer = {}
    if "summary" in answer:
        return answer["summary"]
    if "error" in answer:
        error = ContainsCode if answer.get("code") else KinterpError
        raise error(answer["error"].replace(f"{path.resolve().parent}{os.sep}", ""))
    limit = CHECK_MEMORY_BYTES // 2**30
    raise KinterpError(
        f"{path.name}: the model could not be loaded (its check process ended with code "
        f"{done.returncode}; it may need more than {limit} GiB of memory)"
    )


def _check(path: str) -> dict[str, Any]:
    """The child's answer for the model file at the absolute ``path`` (never a zoo name)."""
    from kinterp.loading.models import load_model

    try:
        summary = load_model(path).info.summary()
    except KinterpError as exc:
        return {"error": str(exc), "code": "--unsafe" in str(exc)}
    summary.pop("path", None)
    return {"summary": summary}


def main(argv: list[str]) -> int:
    """The child: limit memory, check one model file, print the JSON answer."""
    resource.setrlimit(resource.RLIMIT_AS, (CHECK_MEMORY_BYTES, CHECK_MEMORY_BYTES))
    print(json.dumps(_check(argv[0]), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
