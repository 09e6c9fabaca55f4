"""A run as a value, and the checks on what a user or a file may put in one.

Modules: :mod:`runspec` (``RunSpec``: one run, JSON round-trip, picklable), :mod:`loadspec`
(a spec's load options, strictly typed; a file cannot ask for unsafe loading), :mod:`params`
(a technique's ``Params`` dataclass fields -> bounded options, parsed with one-line errors) and
:mod:`nesting` (refuse values nested over 32 deep, without recursion).
"""
