"""The ``kinterp`` command line (Typer); TensorFlow is imported only when a model is needed."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from kinterp.errors import KinterpError, RunFailed, error_line
from kinterp.interrupts import InterruptWatch, Terminated, hand_over
from kinterp.reporting.formatting import format_number, metric_text
from kinterp.settings.params import ParamSpec, param_specs

if TYPE_CHECKING:
    from kinterp.loading.models import LoadOptions


def out_dir(text: str | Path) -> Path:
    """``--out`` as a path; an empty value (which would mean the current folder) is refused."""
    if not str(text).strip():
        raise KinterpError("--out is empty; name a folder (--out . for the current one)")
    return Path(text)


OutDir = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        parser=out_dir,
        help="Where the run directory goes (./kinterp-reports).",
    ),
]
ModelArg = Annotated[
    str, typer.Argument(metavar="MODEL", help="A zoo name or a .keras/.h5/SavedModel path.")
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Unsafe = Annotated[
    bool,
    typer.Option(
        "--unsafe",
        help="Allow models that contain code (Lambda layers, SavedModel graphs with ops beyond "
        "tensor maths). Trust first!",
    ),
]
CustomObjects = Annotated[
    list[str] | None,
    typer.Option(
        "--custom-objects",
        metavar="MODULE:ATTR",
        help="Register a custom layer: module:attr (repeatable).",
    ),
]
ImageShape = Annotated[
    str | None,
    typer.Option("--image-shape", metavar="H,W,C", help="Image geometry of a flat input: H,W,C."),
]
InputRange = Annotated[
    str | None,
    typer.Option(
        "--input-range", metavar="LO,HI", help="Model input value range: LO,HI (default 0,1)."
    ),
]

ModelInput = Annotated[
    str | None,
    typer.Option("--input", metavar="NAME", help="The image input of a model with several inputs."),
]
ModelOutput = Annotated[
    str | None,
    typer.Option("--output", metavar="NAME", help="The output (head) to analyse, if several."),
]
Hold = Annotated[
    str,
    typer.Option(
        "--hold",
        metavar="zeros|mean",
        help="What the other inputs are held at: zeros, or the mean of the arrays named after "
        "them in the --data .npz.",
    ),
]


def debugging(args: list[str]) -> bool:
    """True when tracebacks should be shown (``--debug``, ``KINTERP_DEBUG=1`` or strict plugins)."""
    from kinterp.plugins import strict

    return "--debug" in args or os.environ.get("KINTERP_DEBUG", "") not in ("", "0") or strict()


def printable(text: str) -> str:
    """``text`` on one line: control characters (newlines, ANSI escapes) shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


INTERRUPTED_CODES = (130, 143)  # Ctrl-C, SIGTERM


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error on stderr (control characters escaped) and exit."""
    typer.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


class TensorFlowLog(UserWarning):
    """A TensorFlow or absl log record below ERROR (tf.function retracing...), as a warning."""


class _LogToWarnings(logging.Filter):
    """Turns the records of TensorFlow's and absl's loggers below ERROR into
    :class:`TensorFlowLog` warnings: a run records them in its report's log (the runner
    captures warnings), and outside a run they are ignored, so none reaches the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        warnings.warn_explicit(message, TensorFlowLog, record.pathname, record.lineno)
        return False


def keep_library_logs_off_the_terminal() -> None:
    """Route TensorFlow's and absl's warnings to the report log (``--debug`` keeps them)."""
    warnings.filterwarnings("ignore", category=TensorFlowLog)
    for name in ("tensorflow", "absl"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LogToWarnings) for f in logger.filters):
            logger.addFilter(_LogToWarnings())


_option_type = getattr(TyperOption, "display_type_rich", None)


def _no_type_for_flags(option: TyperOption, ctx: Any) -> str | None:
    """What ``--help`` shows after an option: nothing for a flag (``--json``, ``--sanity/
    --no-sanity``, ``--help``), which takes no value; Typer's rich help shows ``<bool>``."""
    return None if option.is_flag else _option_type(option, ctx)


if _option_type is not None:  # the Typer versions whose rich help shows types this way
    TyperOption.display_type_rich = _no_type_for_flags  # every command's, plugins' too


class KinterpGroup(TyperGroup):
    """The root command: every error becomes one line and an exit code, tracebacks on --debug.

    Commands added by plugins (the ``register_commands`` hook) join the core's here.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        from kinterp.plugins import registry

        core = super().list_commands(ctx)
        return core + sorted(name for name in registry().commands if name not in core)

    def get_command(self, ctx: Any, name: str) -> Any:
        from kinterp.plugins import registry

        command = super().get_command(ctx, name)
        if command is None and name in registry().commands:
            command = registry().commands[name][0]
        return command

    def invoke(self, ctx: Any) -> Any:
        # Typer turns Ctrl-C into a silent exit 130; runs have removed their directory by now.
        try:
            return super().invoke(ctx)
        except Terminated:
            self.interrupts.stop()
            fail("terminated", INTERRUPTED_CODES[1])
        except KeyboardInterrupt:
            self.interrupts.stop()
            fail("interrupted", INTERRUPTED_CODES[0])

    def main(self, args=None, prog_name=None, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        extra.pop("standalone_mode", None)
        # --debug works anywhere on the line, not only before the sub-command.
        command_args = [a for a in args if a != "--debug"]
        if not debugging(args):
            keep_library_logs_off_the_terminal()
        try:
            with InterruptWatch() as self.interrupts:
                code = super().main(
                    args=command_args, prog_name=prog_name, standalone_mode=False, **extra
                )
        except KinterpError as exc:
            _maybe_traceback(args)
            fail(str(exc), exc.exit_code)
        except RunFailed as exc:
            if exc.traceback and debugging(args):
                typer.echo(exc.traceback, err=True)
            fail(str(exc), exc.exit_code)
        except typer.TyperException as exc:
            context = getattr(exc, "ctx", None)
            command = context.command_path if context else "kinterp"
            fail(f"{exc.format_message()} (see: {command} --help)", 2)
        except typer.Abort as exc:  # Ctrl-C or SIGTERM while the arguments were read
            if isinstance(exc.__cause__, Terminated):
                fail("terminated", INTERRUPTED_CODES[1])
            fail("aborted", 130)
        except Exception as exc:
            _maybe_traceback(args)
            fail(f"unexpected {error_line(exc)} (rerun with --debug for details)", 1)
        sys.exit(code or 0)


def _maybe_traceback(args: list[str]) -> None:
    if debugging(args):
        traceback.print_exc()


app = typer.Typer(
    cls=KinterpGroup,
    help="Look inside a trained Keras model: what it learned and where it breaks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from kinterp._version import __version__

        typer.echo(f"kinterp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors (accepted anywhere).")
    ] = False,
) -> None:
    """kinterp: analyse saved Keras models with pluggable techniques."""


def _pair(text: str | None, option: str, kind: type, count: int) -> tuple | None:
    if text is None:
        return None
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        example = "28,28,1" if count == 3 else "0,1"
        raise KinterpError(f"{option} expects {count} comma-separated numbers such as {example}")
    return values


def load_options(
    unsafe: bool,
    custom_objects: list[str] | None,
    image_shape: str | None,
    input_range: str | None,
    input_name: str | None = None,
    output_name: str | None = None,
    hold: str = "zeros",
) -> LoadOptions:
    """The CLI's model-loading options as :class:`LoadOptions`."""
    from kinterp.loading.models import HOLDS, LoadOptions

    if hold not in HOLDS:
        raise KinterpError(f"--hold {hold}: expected one of {', '.join(HOLDS)}")
    return LoadOptions(
        unsafe=unsafe,
        custom_objects=tuple(custom_objects or ()),
        image_shape=_pair(image_shape, "--image-shape", int, 3),
        input_range=_pair(input_range, "--input-range", float, 2),
        input=input_name,
        output=output_name,
        hold=hold,
    )


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    typer.echo(json.dumps(data, indent=2, default=str))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    Console().print(table)


@app.command()
def plugins(as_json: Json = False) -> None:
    """List plugins, what each provides, and any that are broken."""
    from kinterp.plugins import registry

    reg = registry()
    if as_json:
        print_json(
            {
                "plugins": [p.as_dict() for p in reg.plugins],
                "techniques": {n: t.summary for n, (t, _) in sorted(reg.techniques.items())},
                "datasets": {n: d.summary for n, (d, _) in sorted(reg.datasets.items())},
                "commands": {n: r.name for n, (_, r) in sorted(reg.commands.items())},
            }
        )
        return
    rows = [
        [
            p.name,
            f"{p.distribution} {p.version}".strip(),
            p.status,
            ", ".join(
                p.techniques
                + p.datasets
                + [f"command {c}" for c in p.commands]
                + [f"family {f}" for f in p.families]
                + [f"format {f}" for f in p.formats]
                + [f"block {b}" for b in p.report_blocks]
            ),
            p.reason,
        ]
        for p in reg.plugins
    ]
    print_table("Plugins", ["plugin", "distribution", "status", "provides", "reason"], rows)
    rows = [[n, t.summary] for n, (t, _) in sorted(reg.techniques.items())]
    print_table("Techniques (kinterp run NAME MODEL)", ["technique", "summary"], rows)


@app.command()
def models(as_json: Json = False) -> None:
    """List the shipped demo models (the zoo)."""
    from kinterp.loading.zoo import zoo_models

    zoo = zoo_models()
    if as_json:
        print_json({name: {**z.card, "path": str(z.path)} for name, z in zoo.items()})
        return
    rows = [
        [
            n,
            z.card.get("dataset", ""),
            format_number(z.card.get("heldout_accuracy", 0), "pct"),
            z.card.get("summary", ""),
        ]
        for n, z in zoo.items()
    ]
    print_table("Zoo models", ["model", "dataset", "held-out accuracy", "summary"], rows)


@app.command("inspect")
def inspect_model(
    model: ModelArg,
    as_json: Json = False,
    unsafe: Unsafe = False,
    custom_objects: CustomObjects = None,
    image_shape: ImageShape = None,
    input_range: InputRange = None,
    input_name: ModelInput = None,
    output_name: ModelOutput = None,
    hold: Hold = "zeros",
) -> None:
    """Describe a model: inputs and outputs, geometry, value range (and where it came from),
    output activation, the layer tree and table."""
    from dataclasses import asdict

    from kinterp.loading.configinfo import config_info

    options = load_options(
        unsafe, custom_objects, image_shape, input_range, input_name, output_name, hold
    )
    info = config_info(model, options)  # from the file's config, without TensorFlow
    if info is None:
        from kinterp.loading.models import load_model

        info = load_model(model, options).info
    if as_json:
        print_json(
            {
                **info.summary(),
                "choice_error": info.choice_error,
                "layers": [asdict(row) for row in info.layers],
                "tree": [node.as_dict() for node in info.tree],
            }
        )
        return
    print_model_summary(info)
    if not info.has_layers:
        typer.echo("(SavedModel: one opaque layer; layer-level techniques are not available)")
        return
    rows = [[r.name, r.type, r.output_shape, r.activation, r.size, r.params] for r in info.layers]
    print_table(
        "Layers", ["name", "type", "output shape", "activation", "units/filters", "params"], rows
    )
    if info.nested:
        print_tree(info)


def print_model_summary(info: Any) -> None:
    """The model's description, its ports and the choice still to make, as aligned lines."""
    ports = ("inputs", "outputs", "image_input", "output", "held", "binary_head", "tree")
    for key, value in info.summary().items():
        if key not in ports:
            typer.echo(f"{key:>18}: {value}")
    held = dict(info.held)
    for port in info.inputs:
        role = "image" if port.name == info.image_input else f"held at {held.get(port.name)}"
        typer.echo(f"{'input':>18}: {port} [{role}]")
    for port in info.outputs:
        analysed = port.name == info.output_name and not info.choice_error
        head = " [analysed" + (", as two classes: 1 = p, 0 = 1-p]" if info.binary_head else "]")
        typer.echo(f"{'output':>18}: {port}{head if analysed else ''}")
    if info.choice_error:
        typer.echo(f"{'to analyse':>18}: {info.choice_error}")


def print_tree(info: Any) -> None:
    """The nested models and their layers as a tree."""
    from rich.console import Console
    from rich.tree import Tree

    def add(branch: Any, nodes: Any) -> None:
        for node in nodes:
            child = branch.add(f"{node.path} [dim]{node.type}[/dim]")
            add(child, node.children)

    tree = Tree(f"{info.name} (nested models)")
    add(tree, info.tree)
    Console().print(tree)


@app.command()
def predict(
    model: ModelArg,
    images: Annotated[
        list[Path], typer.Argument(metavar="IMAGES...", help="Image files or folders.")
    ],
    top: Annotated[int, typer.Option("--top", metavar="INT", help="How many classes to show.")] = 3,
    mnistify: Annotated[
        bool | None,
        typer.Option(
            "--mnistify/--no-mnistify",
            help="Crop, fit 20x20 and centre by mass (default for 28x28x1 models).",
            show_default=False,
        ),
    ] = None,
    out: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    unsafe: Unsafe = False,
    custom_objects: CustomObjects = None,
    image_shape: ImageShape = None,
    input_range: InputRange = None,
    input_name: ModelInput = None,
    output_name: ModelOutput = None,
    hold: Hold = "zeros",
) -> None:
    """Top-k classes for your own images; labelled sub-folders also give the accuracy."""
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    params = {"inputs": [str(p) for p in images], "top": top, "mnistify": mnistify}
    spec = RunSpec(
        "predict",
        model,
        params,
        out=None if out is None else str(out),
        load=load_options(
            unsafe, custom_objects, image_shape, input_range, input_name, output_name, hold
        ),
    )
    result = execute(spec, quiet=quiet or as_json)
    _raise_if_failed(result)
    predictions = result.data["predictions"]
    accuracy = result.metrics.get("accuracy")
    if as_json:
        report_path = str(result.path / "report.json")
        print_json({"images": predictions, "accuracy": accuracy, "report": report_path})
        return
    for p in predictions:
        if p.get("skipped"):
            typer.echo(f"{p['file']}: skipped ({p['skipped']})")
            continue
        tops = ", ".join(
            f"{t['class_name']} {format_number(t['confidence'], 'prob')}" for t in p["top"]
        )
        typer.echo(f"{p['file']}: {tops}")
    if accuracy is not None:
        typer.echo(f"accuracy: {format_number(accuracy, 'pct')}")
    typer.echo(f"report: {result.path / 'report.html'}")


@app.command(
    help="Run a RunSpec from a JSON file, or rerun what a report.json recorded. A file that "
    "asks for unsafe loading (load.unsafe, load.custom_objects) is refused unless --unsafe or "
    "--custom-objects is given here; the command line's load options then replace the file's. "
    "The run goes under --out (default ./kinterp-reports), never where the file says."
)
def replay(
    spec_file: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC", help="A run spec (.json), or a report.json or run directory."
        ),
    ],
    out: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    unsafe: Unsafe = False,
    custom_objects: CustomObjects = None,
    image_shape: ImageShape = None,
    input_range: InputRange = None,
) -> None:
    """Run a RunSpec from a JSON file, or rerun what a report.json recorded (see the help)."""
    from dataclasses import replace as replaced

    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    given = load_options(unsafe, custom_objects, image_shape, input_range)
    opted_in = given.unsafe or bool(given.custom_objects)
    spec = RunSpec.from_file(spec_file, allow_unsafe=opted_in)
    load = replaced(
        given,
        image_shape=given.image_shape or spec.load.image_shape,
        input_range=given.input_range or spec.load.input_range,
        input=spec.load.input,
        output=spec.load.output,
        hold=spec.load.hold,
    )
    spec = replaced(spec, load=load, out=None if out is None else str(out))
    _show_result(execute(spec, quiet=quiet or as_json), spec.technique, as_json)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A folder holding run directories.")],
) -> None:
    """Write DIR/index.html over every run found below DIR."""
    from kinterp.demo import technique_param_specs
    from kinterp.reporting.html import write_index

    if not directory.is_dir():
        raise KinterpError(f"no such directory: {directory}; pass the folder your runs went to")
    typer.echo(str(write_index(directory, technique_param_specs)))


@app.command()
def demo(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", parser=out_dir, help="Where the run directories go."),
    ] = Path("kinterp-reports"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller, faster presets.")] = False,
    quiet: Quiet = False,
) -> None:
    """Run every installed technique's demo preset on the zoo and write an index."""
    from kinterp.demo import run_demo

    index = run_demo(out, quick=quick, quiet=quiet, echo=typer.echo)
    typer.echo(f"index: {index.resolve()}")


@app.command()
def sweep(
    spec_file: Annotated[
        Path, typer.Argument(metavar="SPEC", help="A sweep spec (.toml); see docs/sweep.md.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="The sweep's folder (default: the SPEC's out)."),
    ] = None,
    cluster: Annotated[
        str,
        typer.Option(
            "--cluster",
            metavar="local|ADDRESS",
            help="A local Dask cluster or a scheduler address.",
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", help="Local worker processes (default: per core)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the runs and exit.")] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Run again the runs an earlier sweep left a failed report for."
        ),
    ] = False,
    max_runs: Annotated[
        int | None,
        typer.Option(
            "--max-runs", metavar="N", help="Refuse a SPEC of more runs than this (10,000)."
        ),
    ] = None,
    unsafe: Annotated[
        bool,
        typer.Option(
            "--unsafe",
            help="Load models that contain code, and allow the SPEC's custom_objects "
            "(trusted models only).",
        ),
    ] = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Run techniques x models x param grids x seeds on a Dask cluster; resumes when rerun."""
    from kinterp.sweeps import plan_sweep, run_plan
    from kinterp.sweeps.cluster import check_cluster
    from kinterp.sweeps.size import DEFAULT_MAX_RUNS

    check_cluster(cluster, workers)
    limit = DEFAULT_MAX_RUNS if max_runs is None else max_runs
    plan = plan_sweep(spec_file, out, limit, retry_failed, unsafe)
    if dry_run:
        state = {run.key: "done" if run.key in plan.done else "to run" for run in plan.runs}
        if as_json:
            print_json(
                [{"key": r.key, "state": state[r.key], **r.spec.as_dict()} for r in plan.runs]
            )
            return
        rows = [
            [
                r.key[:12],
                r.spec.technique,
                r.model_name,
                r.grid_text,
                r.spec.seed,
                state[r.key],
            ]
            for r in plan.runs
        ]
        print_table(
            f"{len(plan.runs)} runs, {len(plan.done)} done -> {plan.out}",
            ["key", "technique", "model", "grid", "seed", "state"],
            rows,
        )
        return
    echo = None if quiet else (lambda line: typer.echo(line, err=True))
    hand_over()  # on Ctrl-C/SIGTERM run_plan closes the cluster, then cleans up after it
    result = run_plan(plan, cluster=cluster, workers=workers, quiet=quiet or as_json, echo=echo)
    counts = result["summary"]
    if as_json:
        keys = ("summary", "out", "manifest", "index", "comparison", "cluster", "seconds")
        print_json({k: result[k] for k in keys})
    else:
        typer.echo(
            ", ".join(f"{k} {v}" for k, v in counts.items() if v) + f" in {result['seconds']}s"
        )
        typer.echo(f"comparison: {result['comparison']}")
        typer.echo(f"index: {result['index']}")
    if counts["failed"] or counts["refused"]:
        bad = f"{counts['failed']} run(s) failed, {counts['refused']} refused"
        raise RunFailed(f"{bad}; see {result['manifest']}")


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to bind; not loopback needs a token."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="INT", help="TCP port.")] = 8765,
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="DIR", parser=out_dir, help="Job store, uploads and reports."
        ),
    ] = Path("kinterp-serve"),
    cluster: Annotated[
        str,
        typer.Option(
            "--cluster", metavar="local|ADDRESS", help="A local Dask cluster or a scheduler."
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", metavar="N", help="Local worker processes (default: per core)."),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file", metavar="FILE", help="Bearer token clients must send (first line)."
        ),
    ] = None,
    allow_unsafe: Annotated[
        bool,
        typer.Option("--allow-unsafe", help="Let clients load models that contain code."),
    ] = False,
    max_queue: Annotated[
        int,
        typer.Option("--max-queue", metavar="N", help="Runs queued or running before 429."),
    ] = 64,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-origin",
            metavar="ORIGIN",
            help="Another origin whose pages may post (scheme://host:port); repeatable.",
        ),
    ] = None,
    max_uploads: Annotated[
        int, typer.Option("--max-uploads", metavar="N", help="Models (and images) kept.")
    ] = 256,
    max_upload_mb: Annotated[
        int, typer.Option("--max-upload-mb", metavar="MB", help="Largest model upload.")
    ] = 512,
    max_store_mb: Annotated[
        int, typer.Option("--max-store-mb", metavar="MB", help="Models (and images) in all.")
    ] = 8192,
) -> None:
    """Serve an HTTP API and web UI that queue runs on warm workers (docs/serve.md)."""
    from kinterp.serve.main import make_config
    from kinterp.serve.main import serve as run_server

    def echo(line: str) -> None:
        typer.echo(line, err=True)

    config = make_config(
        host,
        port,
        out,
        cluster,
        workers,
        token_file,
        allow_unsafe,
        max_queue,
        echo,
        allowed_origins=tuple(allowed_origin or ()),
        max_uploads=max_uploads,
        max_upload_mb=max_upload_mb,
        max_store_mb=max_store_mb,
    )
    hand_over()  # uvicorn stops on SIGINT/SIGTERM itself, closing the cluster gracefully
    run_server(config, echo)


class RunGroup(TyperGroup):
    """``kinterp run TECHNIQUE``: one sub-command per installed technique, built on demand."""

    def list_commands(self, ctx: Any) -> list[str]:
        from kinterp.plugins import registry

        return sorted(registry().techniques)

    def get_command(self, ctx: Any, name: str) -> Any:
        from kinterp.registry import find_technique

        technique, _ = find_technique(name)
        return technique_command(technique)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from kinterp.plugins import registry

        rows = [(n, t.summary) for n, (t, _) in sorted(registry().techniques.items())]
        if rows:
            with formatter.section("Techniques"):
                formatter.write_dl(rows)


run_app = typer.Typer(
    cls=RunGroup, help="Run a technique on a model: kinterp run TECHNIQUE MODEL [OPTIONS]."
)
app.add_typer(run_app, name="run")


def _option(spec: ParamSpec) -> inspect.Parameter:
    help_text = spec.help_text
    if spec.kind == "bool":
        flags = f"{spec.option}/--no-{spec.option[2:]}"
        option = typer.Option(None, flags, help=help_text, show_default=False)
        annotation: Any = bool | None
    else:
        option = typer.Option(
            None, spec.option, help=help_text, metavar=spec.type_label, show_default=False
        )
        annotation = str | None
    return inspect.Parameter(
        spec.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
    )


def _common_run_parameters() -> list[inspect.Parameter]:
    def kw(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    Data = Annotated[
        str | None, typer.Option("--data", metavar="NAME|PATH", help="Dataset name or path.")
    ]
    Seed = Annotated[int, typer.Option("--seed", metavar="INT", help="Random seed.")]
    return [
        inspect.Parameter(
            "model_spec", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ModelArg
        ),
        kw("data", Data, None),
        kw("out", OutDir, None),
        kw("seed", Seed, 0),
        kw("as_json", Json, False),
        kw("quiet", Quiet, False),
        kw("unsafe", Unsafe, False),
        kw("custom_objects", CustomObjects, None),
        kw("image_shape", ImageShape, None),
        kw("input_range", InputRange, None),
        kw("input_name", ModelInput, None),
        kw("output_name", ModelOutput, None),
        kw("hold", Hold, "zeros"),
    ]


ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Run on a kinterp server instead (token: $KINTERP_TOKEN); see kinterp serve.",
    ),
]


def technique_command(technique: Any) -> Any:
    """A click command for ``kinterp run NAME`` with one option per Params field."""
    specs = param_specs(technique.Params)
    common = _common_run_parameters()
    server = inspect.Parameter(
        "server", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ServerUrl
    )
    parameters = common + [server] + [_option(s) for s in specs]

    def command(**kwargs: Any) -> None:
        params = {s.name: kwargs[s.name] for s in specs if kwargs.get(s.name) is not None}
        common_values = {p.name: kwargs[p.name] for p in common}
        run_command(technique.name, params, **common_values, server=kwargs["server"])

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = technique.summary
    single = typer.Typer(add_completion=False)
    single.command(name=technique.name, help=technique.summary)(command)
    return typer.main.get_command(single)


def run_command(
    technique: str,
    params: dict[str, Any],
    model_spec: str,
    data: str | None,
    out: Path | None,
    seed: int,
    as_json: bool,
    quiet: bool,
    server: str | None = None,
    **load_args: Any,
) -> None:
    """Run a technique from the CLI (or on a server) and report where the results are.

    ``load_args`` are :func:`load_options`' arguments (``unsafe``, ``image_shape``...).
    """
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    spec = RunSpec(
        technique,
        model_spec,
        params,
        data=data,
        seed=seed,
        out=None if out is None else str(out),
        load=load_options(**load_args),
    )
    if server:
        _run_on_server(server, spec, as_json, quiet)
        return
    _show_result(execute(spec, quiet=quiet or as_json), technique, as_json)


def _run_on_server(url: str, spec: Any, as_json: bool, quiet: bool) -> None:
    """Run ``spec`` on a kinterp server, showing its progress; exit as a local run would."""
    from kinterp.serve.client import Client

    if spec.out is not None:
        raise KinterpError("--out names a local folder; drop it with --server (the server picks)")
    client = Client(url)

    def show(state: dict[str, Any]) -> None:
        if not (quiet or as_json):
            steps = f" {state['done']}/{state['total']}" if state["total"] else ""
            typer.echo(f"{state['status']}: {state['phase']}{steps}", err=True)

    state = client.run(spec, on_update=show)
    url = client.report_url(state)
    if as_json:
        print_json({**state, "report_url": url})
    else:
        if state["metric"] and state["value"] is not None:
            typer.echo(f"{state['metric']}: {metric_text(state['metric'], state['value'])}")
        typer.echo(f"report: {url}")
    if state["status"] == "refused":
        raise KinterpError(state["error"])
    if state["status"] != "ok":
        raise RunFailed(f"{spec.technique} {state['status']}: {state['error']} (report: {url})")


def _show_result(result: Any, technique: str, as_json: bool) -> None:
    """Print a run's metrics (or its JSON summary) and where its report is."""
    if as_json:
        print_json(
            {
                "status": result.status,
                "report": str(result.path / "report.json"),
                "metrics": result.metrics,
                "error": result.report["error"],
            }
        )
    else:
        for name, value in result.metrics.items():
            typer.echo(f"{name}: {metric_text(name, value)}")
        typer.echo(f"report: {result.path / 'report.html'}")
    _raise_if_failed(result)


def _raise_if_failed(result: Any) -> None:
    """Exit 1 with the technique's error when the run failed (its report is kept)."""
    if result.status != "ok":
        error = result.report["error"]
        technique = result.report["technique"]["name"]
        message = f"{technique} failed: {error['message']} (report: {result.path})"
        raise RunFailed(message, result.traceback)


def main() -> None:
    """Console-script entry point. A command stopped by Ctrl-C or SIGTERM ends the process at
    once once its one line is printed (as the interrupt watch does after its grace): the
    interpreter's normal shutdown could wait on TensorFlow state the interrupt left behind."""
    try:
        app()
    except SystemExit as exit_:
        if exit_.code in INTERRUPTED_CODES:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(exit_.code)
        raise
