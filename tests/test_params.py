from pathlib import Path

import pytest
import yaml

from pipelines.params import ParamsError, load_params
from tests.conftest import REPO


def test_repo_params_load() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.is_synthetic
    assert params.labels.dpd_threshold_days == 90
    assert params.generate.n_customers > 0


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["generate"].update(n_custmers=10))
    with pytest.raises(ParamsError, match=r"generate\.n_custmers: unknown key"):
        load_params(path)


def test_unknown_nested_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["generate"]["stress"].update(intensty=2))
    with pytest.raises(ParamsError, match=r"generate\.stress\.intensty: unknown key"):
        load_params(path)


def test_bad_value_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["generate"].update(n_customers=-5))
    with pytest.raises(ParamsError, match=r"generate\.n_customers"):
        load_params(path)


def test_unknown_table_in_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["data"].update(columns={"purchases": {"ts": "time"}}))
    with pytest.raises(ParamsError, match="purchases"):
        load_params(path)


def test_params_are_frozen() -> None:
    params = load_params(REPO / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.generate.seed = 1  # type: ignore[misc]
