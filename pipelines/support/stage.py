"""How a stage module runs: its command line comes from ``main``'s signature.

Every stage module ends with ``if __name__ == "__main__": cli(main)``. Each parameter of
``main`` is a path flag of the same name (``scorer_dir`` -> ``--scorer-dir``), required
unless it has a default, so a stage's flags, ``dvc.yaml``'s commands and the in-process
test runner (:func:`run_command`) cannot disagree. The stage's wall time is logged at the
end, so the slowest stage of a run is visible in the log.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipelines.support.logs import setup_logging

log = logging.getLogger("pipelines.support.stage")

StageMain = Callable[..., None]


def parse_args(main: StageMain, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Keyword arguments of ``main`` from command-line flags."""
    doc = (sys.modules[main.__module__].__doc__ or main.__module__).strip().splitlines()[0]
    parser = argparse.ArgumentParser(description=doc)
    for name, param in inspect.signature(main).parameters.items():
        required = param.default is inspect.Parameter.empty
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=Path,
            required=required,
            default=None if required else param.default,
        )
    return vars(parser.parse_args(argv))


def stage_name(main: StageMain) -> str:
    """``evaluate`` for ``pipelines.evaluate.main``, also when run as ``python -m``."""
    module = main.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return module.rsplit(".", 1)[-1]


def timed(main: StageMain, kwargs: dict[str, Any]) -> float:
    """Run ``main(**kwargs)`` and log its wall time; returns the seconds taken."""
    started = time.perf_counter()
    main(**kwargs)
    seconds = time.perf_counter() - started
    log.info("stage %s done in %.1f s", stage_name(main), seconds)
    return seconds


def cli(main: StageMain, argv: Sequence[str] | None = None) -> None:
    """The entry point of a stage module: logging, a file-only plotting backend, flags
    from ``main``'s signature, and a plain error message (exit status 1) for the
    project's own errors, which say what to fix; anything else keeps its traceback."""
    setup_logging()
    import matplotlib

    matplotlib.use("Agg")  # stages write figures to files; no display on servers or in CI
    kwargs = parse_args(main, argv)
    try:
        timed(main, kwargs)
    except Exception as exc:
        if not type(exc).__module__.startswith(("creditrisk", "pipelines")):
            raise
        log.error("stage %s stopped the pipeline:\n%s", stage_name(main), exc)
        sys.exit(1)


def run_command(cmd: str) -> float:
    """Run a ``dvc.yaml`` stage command (``python -m pipelines.<stage> --flag value ...``)
    in this process, in the current folder; returns the stage's wall time."""
    words = shlex.split(cmd)
    if words[:2] != ["python", "-m"] or not words[2].startswith("pipelines."):
        raise ValueError(f"not a stage command: {cmd!r}")
    module = importlib.import_module(words[2])
    main: StageMain = module.main
    return timed(main, parse_args(main, words[3:]))
