"""The technique toolkit: building blocks the built-in techniques share.

Modules: :mod:`optimize` (the compiled input-optimisation engine and its parts),
:mod:`perturb` (perturbation families over whole batches), :mod:`evolve` (genetic operators
over many populations at once), :mod:`cppn` (compositional pattern-producing networks drawn
with einsum), :mod:`pixelstats` (pixel histograms and variograms) and :mod:`classification`
(probabilities, top-1, top-k, accuracy). Nothing here imports the run core.
"""
