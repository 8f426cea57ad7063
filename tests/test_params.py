from pathlib import Path

import pytest
import yaml

from pipelines.support.params import ParamsError, load_params
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


def test_rules_and_limits_load_into_the_domain_objects() -> None:
    """One schema: params.yaml's rules and limits are the scorer's and monitor's own types."""
    from creditrisk.schemas.policy import LimitKind, ModelLimits, RatingRule, RuleMode
    from creditrisk.schemas.rules import Condition, Operator
    from creditrisk.schemas.warnings import Level, WarningRule

    params = load_params(REPO / "params.yaml")
    rule = params.policy.rating_rules[0]
    assert isinstance(rule, RatingRule) and rule.mode is RuleMode.NO_BETTER_THAN
    assert rule.when[0] == Condition("dpd_current", Operator.GE, 60)
    assert isinstance(params.policy.limits.model, ModelLimits)
    assert params.policy.limits.in_force is LimitKind.MODEL
    warning = params.monitor.rules[0]
    assert isinstance(warning, WarningRule) and warning.level is Level.LIGHT


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p["policy"]["rating_rules"][0]["when"][0].update(op="=>"),
            r"policy\.rating_rules\.0\.when\.0\.op",
        ),
        (
            lambda p: p["policy"]["rating_rules"][0]["when"][0].update(feture="x"),
            r"policy\.rating_rules\.0\.when\.0\.feture: unknown key",
        ),
        (
            lambda p: p["policy"]["rating_rules"][0].update(mode="sometimes"),
            r"policy\.rating_rules\.0\.mode",
        ),
        (lambda p: p["monitor"]["rules"][0].update(level="urgent"), r"monitor\.rules\.0\.level"),
        (
            lambda p: p["policy"]["limits"]["model"].update(lgd=1.5),
            r"policy\.limits\.model.*lgd must be",
        ),
        (lambda p: p["policy"]["limits"].update(in_force="both"), r"policy\.limits\.in_force"),
    ],
)
def test_bad_rule_or_limit_is_named(tmp_path: Path, mutate, message: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ParamsError, match=message):
        load_params(path)
