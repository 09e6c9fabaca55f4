"""Refuse values nested deeper than any real spec is: checked without recursion.

A run spec or sweep SPEC read from a file can hold a list nested 10,000 levels deep; any
recursive walk (parsing params, hashing, ``repr``, pickling) would then raise
``RecursionError``. :func:`check_depth` walks with an explicit stack, so it is safe on any
depth, and turns the problem into a one-line :class:`KinterpError`.
"""

from __future__ import annotations

from typing import Any

from kinterp.errors import KinterpError

MAX_DEPTH = 32
"""Containers inside containers allowed below the top level (real specs use fewer than 8)."""


def check_depth(value: Any, what: str, limit: int = MAX_DEPTH) -> None:
    """Refuse ``value`` when its dicts, lists and tuples nest more than ``limit`` deep.

    Args:
        value: a parsed spec, or any part of one.
        what: names the value in the error, e.g. ``run spec``.
        limit: the deepest nesting allowed (the top-level container is depth 0).

    Raises:
        KinterpError: the value is nested deeper than ``limit``.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth > limit:
            raise KinterpError(
                f"{what} is nested more than {limit} levels deep; no spec needs that, flatten it"
            )
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
