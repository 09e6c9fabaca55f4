"""Count a model's parameters by building its structure with deferred variables.

The config walk of :mod:`kinterp.loading.modelsize` counts the layer types it knows. For any other
weighted layer, Keras itself is asked: the model is deserialised inside a
``keras.StatelessScope(initialize_variables=False)``, where every variable a layer's
``build`` creates records its shape and initializer but allocates no value (Keras defers
the initialisation to the scope's exit, which is told not to run it). The variables' shapes
are summed, and the deferred variables are dropped before anything can initialise them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from kinterp.loading.modelsize import ITEM_BYTES, refuse_over_cap

SMALL_ITEMS = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "uint16": 2, "int64": 8}
"""Bytes of a variable by dtype, beyond :data:`kinterp.loading.modelsize.ITEM_BYTES` (default 4)."""


def deferred_parameter_bytes(
    fmt: str, config: dict, custom_objects: dict[str, Any] | None, safe_mode: bool
) -> int:
    """Bytes of the variables Keras creates when it builds the model of ``config``, without
    allocating them.

    Raises:
        Exception: whatever Keras raises while deserialising the config (the caller turns
            it into the message a real load would give).
    """
    from keras.src import backend
    from keras.src.backend.common import global_state

    key = "uninitialized_variables"
    pending = list(global_state.get_global_attribute(key, []) or [])
    try:
        with backend.StatelessScope(initialize_variables=False):
            model = _deserialize(fmt, config, custom_objects, safe_mode)
            variables = {id(v): v for v in model.weights}.values()
            return sum(math.prod(v.shape) * _item_bytes(str(v.dtype)) for v in variables)
    finally:
        global_state.set_global_attribute(key, pending)


def _item_bytes(dtype: str) -> int:
    return {**ITEM_BYTES, **SMALL_ITEMS}.get(dtype, 4)


def _deserialize(
    fmt: str, config: dict, custom_objects: dict[str, Any] | None, safe_mode: bool
) -> Any:
    """The model of ``config``, built as ``keras.saving.load_model`` builds it (compile off)."""
    from keras.src.saving import object_registration, serialization_lib

    if fmt == "h5":
        from keras.src.backend.common import global_state
        from keras.src.legacy.saving import json_utils, saving_options, saving_utils

        scoped = global_state.get_global_attribute("custom_objects_scope_dict", {})
        every = {**(custom_objects or {}), **object_registration.GLOBAL_CUSTOM_OBJECTS, **scoped}
        with (
            saving_options.keras_option_scope(use_legacy_config=True),
            serialization_lib.SafeModeScope(safe_mode),
        ):
            decoded = json_utils.decode(json.dumps(config))
            return saving_utils.model_from_config(decoded, custom_objects=every)
    config = {**json.loads(json.dumps(config)), "compile_config": None}
    with serialization_lib.ObjectSharingScope():
        return serialization_lib.deserialize_keras_object(
            config, custom_objects=custom_objects, safe_mode=safe_mode
        )


def check_deferred_memory(
    path: Path,
    fmt: str,
    config: dict,
    custom_objects: dict[str, Any] | None,
    safe_mode: bool,
    unknown: list[str],
) -> None:
    """Refuse ``path`` if the variables Keras would create (counted without allocating, for
    the layer types ``unknown`` to the config walk) are over kinterp's cap.

    Raises:
        KinterpError: one line with the count, the cap and the fix.
        Exception: whatever Keras raises while deserialising the config.
    """
    need = deferred_parameter_bytes(fmt, config, custom_objects, safe_mode)
    how = f"counted by building its structure without weights: {', '.join(unknown)}"
    refuse_over_cap(path, need, how)
