"""dvc.yaml against the code: every stage's module exists and is a dependency, with the src
packages it imports, and every params section it names loads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pipelines.params import load_params
from tests.conftest import REPO

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def _module(cmd: str) -> Path:
    words = cmd.split()
    return REPO / (words[words.index("-m") + 1].replace(".", "/") + ".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _covered(dep_paths: list[str], target: Path) -> bool:
    rel = target.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in dep_paths)


def _src_path(module: str) -> Path:
    rel = module.removeprefix("creditrisk").lstrip(".").replace(".", "/")
    base = REPO / "src" / rel
    return base.with_suffix(".py") if base.with_suffix(".py").exists() else base


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_module_and_imports_are_deps(name: str) -> None:
    stage = STAGES[name]
    module = _module(stage["cmd"])
    assert module.exists(), f"stage {name}: {module} missing"
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
    assert _covered(deps, module), f"stage {name}: {module.name} not in deps"
    todo, seen = [module], set()
    while todo:  # follow imports through pipelines/ and src/, transitively
        path = todo.pop()
        for imported in _imports(path):
            if imported.startswith("creditrisk"):
                target = _src_path(imported)
            elif imported.startswith("pipelines."):
                target = REPO / (imported.replace(".", "/") + ".py")
            else:
                continue
            if target in seen:
                continue
            seen.add(target)
            assert _covered(deps, target), f"stage {name} imports {imported} but deps lack {target}"
            todo.extend([target] if target.is_file() else sorted(target.glob("*.py")))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_params_exist(name: str) -> None:
    params = load_params(REPO / "params.yaml").model_dump(by_alias=True)
    for key in STAGES[name].get("params", []):
        node = params
        for part in key.split("."):
            assert part in node, f"stage {name}: params key {key} not in params.yaml"
            node = node[part]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_main_is_thin(name: str) -> None:
    """A stage's main reads, calls src/, writes: 40 lines at most (the rest lives in src/)."""
    module = _module(STAGES[name]["cmd"])
    tree = ast.parse(module.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    lines = (main.end_lineno or main.lineno) - main.lineno + 1
    assert lines <= 40, f"stage {name}: main() is {lines} lines; move logic into src/"
    cli = 'if __name__ == "__main__":\n    cli(main)'
    assert cli in module.read_text(), f"stage {name}: end with {cli!r} (flags from main)"
