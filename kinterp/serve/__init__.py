"""``kinterp serve``: a FastAPI server that queues runs on warm Dask workers.

Modules, one concept each: :mod:`config` (the server's settings, checked before it starts),
:mod:`security` (token, trusted hosts, request size limits), :mod:`store` (the SQLite job
store), :mod:`schema` (technique params as JSON Schema), :mod:`admission` (a posted spec
made safe to run), :mod:`uploads` (uploaded models by sha256), :mod:`worker` (the task a
worker runs: progress events and cancellation), :mod:`dispatch` (the Dask cluster and job
lifecycle), :mod:`routes` (the API), :mod:`app` (the application, its middleware and the web
UI page in ``ui/``) and :mod:`main` (options, uvicorn). FastAPI, uvicorn and Dask are
imported only by these modules, never by ``import kinterp``.
"""
