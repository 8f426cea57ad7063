"""The code each stage really runs, from the import graph: what ``dvc.yaml`` lists as the
stage's code dependencies, so an edit re-runs exactly the stages that import the file.

A stage's code is its module and every project module it imports, directly or through
another (imports inside functions count: they run when the stage does), with the
``__init__.py`` of each package on the way (Python runs those too). The export stage also
runs the scorer's own module, which MLflow loads by path (``SCORER_MODULE``), and its
imports are the code the exported model carries (:func:`scorer_code`).

Usage::

    python -m pipelines.support.code_deps           # list stages whose deps are out of date
    python -m pipelines.support.code_deps --write   # rewrite the code deps in dvc.yaml
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DVC_YAML = ROOT / "dvc.yaml"
# The pyfunc scorer: MLflow loads this file by path (models from code), not by import.
SCORER_MODULE = Path("src/models/scorer_model.py")
# Files a stage runs that no import names (stage -> files relative to the root).
EXTRA_ROOTS: dict[str, tuple[Path, ...]] = {"export": (SCORER_MODULE,)}
_CODE = ("pipelines/", "src/")


def module_file(name: str) -> Path | None:
    """The project file of a module name (``creditrisk.x.y`` -> ``src/x/y.py``,
    ``pipelines.x`` -> ``pipelines/x.py``, a package -> its ``__init__.py``); None
    for a module outside the project."""
    parts = name.split(".")
    if parts[0] == "creditrisk":
        base = ROOT / "src" / Path(*parts[1:]) if len(parts) > 1 else ROOT / "src"
    elif parts[0] == "pipelines":
        base = ROOT / Path(*parts)
    else:
        return None
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _packages(name: str) -> list[str]:
    """``a``, ``a.b`` for ``a.b.c``: the packages Python initialises before ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def imported_modules(path: Path) -> frozenset[str]:
    """Module names a file imports (``from p import m`` names ``p.m`` when m is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            for alias in node.names:
                if module_file(f"{node.module}.{alias.name}") is not None:
                    names.add(f"{node.module}.{alias.name}")
    return frozenset(names)


def closure(roots: Iterable[Path]) -> set[Path]:
    """Every project file the ``roots`` run, transitively (absolute paths)."""
    todo = [r if r.is_absolute() else ROOT / r for r in roots]
    seen: set[Path] = set(todo)
    while todo:
        path = todo.pop()
        for name in imported_modules(path):
            for module in (*_packages(name), name):
                target = module_file(module)
                if target is not None and target not in seen:
                    seen.add(target)
                    todo.append(target)
    return seen


def stage_module(cmd: str) -> Path:
    """The module file of a stage command ``python -m pipelines.<stage> ...``."""
    words = cmd.split()
    target = module_file(words[words.index("-m") + 1])
    if target is None:
        raise ValueError(f"not a project module in command: {cmd!r}")
    return target


def _compact(files: set[Path]) -> list[str]:
    """Relative paths, with a folder in place of its files when the stage runs every
    Python file of it (and it holds no Python subpackage)."""
    rel = {f.relative_to(ROOT).as_posix() for f in files}
    out: set[str] = set(rel)
    for folder in {f.parent for f in files}:
        own = {p.relative_to(ROOT).as_posix() for p in folder.glob("*.py")}
        nested = any(p.is_dir() and (p / "__init__.py").exists() for p in folder.iterdir())
        if own and own <= rel and not nested and folder != ROOT / "pipelines":
            out -= own
            out.add(folder.relative_to(ROOT).as_posix())
    return sorted(out)


def stage_code_deps(name: str, cmd: str) -> list[str]:
    """The code dependencies ``dvc.yaml`` should list for a stage."""
    return _compact(closure([stage_module(cmd), *EXTRA_ROOTS.get(name, ())]))


def scorer_code() -> set[Path]:
    """The package files the exported scorer runs (what the model folder carries)."""
    return {p for p in closure([SCORER_MODULE]) if p.is_relative_to(ROOT / "src")}


def is_code(dep: str) -> bool:
    """Whether a dvc.yaml dep is project code (a file or folder of src/ or pipelines/)."""
    return dep.rstrip("/") in ("src", "pipelines") or dep.startswith(_CODE)


def declared_code_deps(stage: dict[str, object]) -> list[str]:
    deps = stage.get("deps", [])
    assert isinstance(deps, list)
    names = [d if isinstance(d, str) else next(iter(d)) for d in deps]
    return sorted(d for d in names if is_code(d))


def stale_stages(dvc_yaml: Path = DVC_YAML) -> dict[str, tuple[list[str], list[str]]]:
    """Stages whose declared code deps differ from the import graph: name -> (declared,
    expected)."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        expected = stage_code_deps(name, stage["cmd"])
        declared = declared_code_deps(stage)
        if declared != expected:
            out[name] = (declared, expected)
    return out


def rewrite(text: str, expected: dict[str, list[str]]) -> str:
    """``dvc.yaml`` text with each stage's code deps replaced by ``expected`` (first in
    its deps list); data deps, comments and everything else are kept as they are."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stage: str | None = None
    in_deps = False
    for line in lines:
        m = re.match(r"^  ([A-Za-z_][\w-]*):\s*$", line)
        if m:
            stage, in_deps = m.group(1), False
        if in_deps:
            item = re.match(r"^      - (\S+)\s*$", line)
            if item and is_code(item.group(1)):
                continue
            if not line.startswith("      ") and line.strip():
                in_deps = False
        if stage in expected and re.match(r"^    deps:\s*$", line):
            out.append(line)
            out.extend(f"      - {d}\n" for d in expected[stage])
            in_deps = True
            continue
        out.append(line)
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = parser.parse_args(argv)
    stale = stale_stages()
    if args.write and stale:
        DVC_YAML.write_text(
            rewrite(DVC_YAML.read_text(), {n: exp for n, (_, exp) in stale.items()})
        )
        print(f"dvc.yaml: code deps rewritten for {', '.join(sorted(stale))}")
        return 0
    for name, (declared, expected) in sorted(stale.items()):
        missing = sorted(set(expected) - set(declared))
        extra = sorted(set(declared) - set(expected))
        print(f"{name}: missing {missing}, not imported {extra}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
