"""``kinterp serve``: a FastAPI server that queues runs on warm Dask workers.

Modules, one concept each: :mod:`config` (the server's settings, checked before it starts),
:mod:`lock` (one server per out folder), :mod:`security` (token, request size limits),
:mod:`origins` (the Host a request names and the site that sent it), :mod:`store` (the SQLite
job store), :mod:`schema` (technique params as JSON Schema), :mod:`admission` (a posted spec
made safe to run), :mod:`fileparams` (file params name uploads, never server paths),
:mod:`filestore` (uploads by sha256, bounded), :mod:`uploads` and :mod:`images` (what an
uploaded model or image must be), :mod:`modelcheck` (an uploaded model loaded in a
subprocess), :mod:`worker` (the task a worker runs: progress events and cancellation),
:mod:`dispatch` (the Dask cluster and job lifecycle), :mod:`routes` (the API), :mod:`app`
(the application, its middleware and the web UI page in ``ui/``), :mod:`main` (options,
uvicorn) and :mod:`client` (``kinterp.Client``: the standard-library client of a running
server). FastAPI, uvicorn and Dask are imported only by the server's modules, never by
``import kinterp`` nor by the client.
"""
