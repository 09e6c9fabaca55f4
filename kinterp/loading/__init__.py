"""Model loading and its safety checks: a zoo name or path becomes a described, safe model.

Modules: :mod:`models` (resolve a name or path, load it safely, ``ModelInfo``, ``LoadedModel``,
the logits view), :mod:`modelfile` (what a model path is, from its bytes, before Keras sees it),
:mod:`graphscan` (refuse SavedModel graphs with ops outside a pure-tensor allowlist),
:mod:`limits` (size caps checked from declared sizes before anything is inflated),
:mod:`modelsize` (a model's parameter memory estimated from its config, before Keras builds it)
and :mod:`zoo` (the shipped models' cards, package ``kinterp_zoo``). Nothing here imports the
run core or the reporting package; Keras and TensorFlow are imported only inside functions.
"""
