"""dvc.yaml against the code: every stage's module exists and is a dependency, with the src
packages it imports, and every params section it names loads."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.support import code_deps
from pipelines.support.params import load_params
from tests.conftest import REPO

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def _module(cmd: str) -> Path:
    words = cmd.split()
    return REPO / (words[words.index("-m") + 1].replace(".", "/") + ".py")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_are_the_import_graph(name: str) -> None:
    """A stage's code deps in dvc.yaml are exactly the files its import graph reaches: a
    missing one leaves the stage stale after an edit, an extra one re-runs it for
    nothing (``python -m pipelines.support.code_deps --write`` rewrites them)."""
    stage = STAGES[name]
    expected = code_deps.stage_code_deps(name, stage["cmd"])
    declared = code_deps.declared_code_deps(stage)
    assert declared == expected, (
        f"stage {name}: dvc.yaml lacks {sorted(set(expected) - set(declared))} and lists "
        f"{sorted(set(declared) - set(expected))} it does not import"
    )


def _loaded_project_files(module: str) -> set[Path]:
    """Project files Python really loads when it imports ``module`` (a fresh interpreter)."""
    script = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None)\n"
        "    if f: print(f)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    files = {Path(line).resolve() for line in out.stdout.splitlines()}
    src, pipelines = (REPO / "src").resolve(), (REPO / "pipelines").resolve()
    return {f for f in files if f.is_relative_to(src) or f.is_relative_to(pipelines)}


@pytest.mark.parametrize("name", ["generate", "features", "train", "export", "model_card"])
def test_import_graph_covers_what_python_loads(name: str) -> None:
    """The static import graph is checked against a real import: every project module
    Python loads for the stage is in the graph (imports inside functions are in the graph
    too, so it may hold more)."""
    cmd = STAGES[name]["cmd"]
    graph = {p.resolve() for p in code_deps.closure([code_deps.stage_module(cmd)])}
    loaded = _loaded_project_files(cmd.split()[cmd.split().index("-m") + 1])
    assert loaded, "the import found no project module"
    assert loaded <= graph, f"stage {name} loads {sorted(map(str, loaded - graph))}"


def test_params_import_only_schemas() -> None:
    """The params schema loads no numerical library and none of the modules that apply
    the rules, so editing those never makes every stage stale."""
    loaded = _loaded_project_files("pipelines.support.params")
    rel = sorted(p.relative_to(REPO.resolve()).as_posix() for p in loaded)
    assert all(r.startswith(("src/schemas/", "pipelines/")) or r in _LEAVES for r in rel), rel
    script = "import sys, pipelines.support.params; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    modules = set(ast.literal_eval(out.stdout))
    assert not modules & {"numpy", "pandas", "lightgbm", "sklearn", "ibis"}, modules & {
        "numpy",
        "pandas",
        "lightgbm",
        "sklearn",
        "ibis",
    }


# Leaf modules the params schema may load besides creditrisk.schemas.
_LEAVES = {"src/__init__.py", "src/features/__init__.py", "src/features/reasons.py"}


def test_exported_code_is_the_scorer_closure() -> None:
    """The exported model carries the modules the scorer runs and nothing else: none of
    the training, reporting or monitoring code."""
    carried = {p.relative_to(REPO / "src").as_posix() for p in code_deps.scorer_code()}
    assert "models/scorer_model.py" in carried and "models/scorer.py" in carried
    assert not {c for c in carried if c.startswith(("reports/", "monitoring/", "synthetic/"))}
    assert "models/training.py" not in carried and "models/fairness.py" not in carried


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_params_exist(name: str) -> None:
    params = load_params(REPO / "params.yaml").model_dump(by_alias=True)
    for key in STAGES[name].get("params", []):
        node = params
        for part in key.split("."):
            assert part in node, f"stage {name}: params key {key} not in params.yaml"
            node = node[part]


# Libraries that compute domain results: a stage module calls src/ for them instead.
NUMERICAL = ("numpy", "scipy", "sklearn", "lightgbm", "shap", "optbinning", "optuna")
STAGE_MODULE_LINES = 300  # a stage that grows past this is doing src/'s work
STAGE_FUNCTION_LINES = 50


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_module_only_reads_calls_and_writes(name: str) -> None:
    """A stage module reads its inputs, calls src/ and writes: it imports no numerical
    library, stays within a size budget, each function short, and its flags come from
    main (it ends with ``cli(main)``)."""
    module = _module(STAGES[name]["cmd"])
    text = module.read_text()
    tree = ast.parse(text)
    imported = code_deps.imported_modules(module)
    numerical = sorted(m for m in imported if m.split(".")[0] in NUMERICAL)
    assert not numerical, f"stage {name} imports {numerical}: compute in src/, call it here"
    lines = len(text.splitlines())
    assert lines <= STAGE_MODULE_LINES, f"stage {name}: {lines} lines; move logic into src/"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= STAGE_FUNCTION_LINES, f"stage {name}: {node.name}() is {size} lines"
    cli = 'if __name__ == "__main__":\n    cli(main)'
    assert cli in text, f"stage {name}: end with {cli!r} (flags from main)"


def test_pipelines_folder_is_an_index_of_stages() -> None:
    """pipelines/ holds the stage modules dvc.yaml names and the support package only."""
    stages = {_module(s["cmd"]).name for s in STAGES.values()}
    files = {p.name for p in (REPO / "pipelines").glob("*.py")} - {"__init__.py"}
    assert files == stages, f"not stages: {sorted(files - stages)}; missing: {stages - files}"


def _declared(key: str, declared: list[str]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


@pytest.mark.slow
def test_every_params_key_a_stage_reads_is_declared(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> None:
    """Every stage of the session's shared small run recorded which params keys it read;
    each must be in its dvc.yaml ``params`` (else a changed key leaves it stale)."""
    import json

    from tests.pipeline_run import SHARED_READS, session_base, shared_run

    run = shared_run(session_base(tmp_path_factory, worker_id))
    read = json.loads((run / SHARED_READS).read_text())
    assert set(read) == set(STAGES), f"stages not run: {set(STAGES) - set(read)}"
    undeclared = {
        name: sorted(k for k in keys if not _declared(k, STAGES[name].get("params", [])))
        for name, keys in read.items()
    }
    assert not any(undeclared.values()), f"params read but not declared: {undeclared}"
    assert all(read.values()), f"a stage read no params at all: {read}"


# The decision log is append-only: a DVC out would be deleted before each run.
UNTRACKED = {"data/decision_log"}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_path_flag_is_a_dep_or_an_out(name: str) -> None:
    """Each path a stage's command passes is declared: read (deps) or written (outs)."""
    stage = STAGES[name]
    declared = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
    declared += [o if isinstance(o, str) else next(iter(o)) for o in stage.get("outs", [])]
    for key in ("metrics", "plots"):
        declared += [m if isinstance(m, str) else next(iter(m)) for m in stage.get(key, [])]
    words = stage["cmd"].split()
    paths = [w.strip('"') for flag, w in itertools.pairwise(words) if flag.startswith("--")]
    for path in paths:
        if path in UNTRACKED:
            continue
        inside_declared = any(path.startswith(d.rstrip("/") + "/") for d in declared)
        holds_declared = any(d.startswith(path.rstrip("/") + "/") for d in declared)
        assert path in declared or inside_declared or holds_declared, (
            f"stage {name}: {path} is in its command but neither a dep nor an out"
        )
