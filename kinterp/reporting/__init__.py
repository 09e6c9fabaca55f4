"""What a run leaves behind: report.json, report.html, the run index and notebook views.

Modules: :mod:`report` (``ReportBuilder`` and its blocks, report.json, schema validation),
:mod:`blocks` (``ReportBlock``: a kind of block as its data's schema and its macro, and the
report schema assembled from the registered blocks), :mod:`builtin_blocks` (images, tables
and plots, registered through the ``register_report_blocks`` hook as a core plugin),
:mod:`html` (report.html and the run index, Jinja2 templates in ``templates/``),
:mod:`verdict` (the summary line a report opens with), :mod:`embed` (files and sprite-sheet
tiles as ``data:`` URIs), :mod:`imaging` (arrays -> PNG tiles, colour maps, GIFs), :mod:`charts`
(the plots as SVG) on :mod:`svgplot` (axes, ticks and legends drawn by hand),
:mod:`formatting` (one number format for reports and the terminal), :mod:`rundir` (atomic run
directories) and :mod:`notebook` (what Jupyter shows for a run and a loaded model). The report
JSON Schema ships in ``schema/``.
"""
