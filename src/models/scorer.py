"""The scorer: features in; PD, score, grade, credit limit and reason codes out.

One LightGBM ``pred_contrib`` pass gives both the SHAP contributions (reasons) and, as
their sum, the raw margin (PD), so explanations cost no second prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from creditrisk.models.calibration import Calibrator
from creditrisk.models.matrix import FeatureMatrixError, FeatureSpec, numeric_values
from creditrisk.models.metrics import score_points
from creditrisk.models.output import ID_COLUMN, output_columns
from creditrisk.models.policy import (
    Policy,
    apply_rules,
    band_grades,
    credit_limits,
    limit_reasons,
)

REASON_BLOCK = 4096  # rows per block of contributions and of picking the top reasons
FEW_ROWS = 16  # up to this many rows, the matrix is built without pandas' column machinery
SMALL_BATCH = 256  # rows; below this, LightGBM predicts on a single thread
SINGLE_TEXTS = 4096  # most one-row text columns kept for reuse
PD_BLOCK = 200_000  # rows per block of the PD-only path (a 200k x features float matrix)


class Scorer:
    """Applies the model, calibration and policy to a frame of feature rows.

    Args:
        booster: the LightGBM model (its raw margin is the log-odds before calibration).
        spec: the model's features and categorical levels.
        calibrator: margin -> PD.
        policy: grades, rating rules, limits, scaling, number of reasons.
        reason_text: feature -> plain-language reason (from the feature dictionary).
        model_version: written on every output row.
        reason_groups: feature -> reason group (None: never a reason). The k reasons of a
            row are k different groups, each named by the feature raising the margin
            most within it; ``reason_text`` then holds the group's statement. Without
            it, every feature is its own group.
    """

    def __init__(
        self,
        booster: lgb.Booster,
        *,
        spec: FeatureSpec,
        calibrator: Calibrator,
        policy: Policy,
        reason_text: Mapping[str, str],
        model_version: str,
        reason_groups: Mapping[str, str | None] | None = None,
    ) -> None:
        self.booster = booster
        self.spec = spec
        self.calibrator = calibrator
        self.policy = policy
        self.model_version = model_version
        self._features = list(spec.features)
        # Text columns are built by Arrow from integer positions in these lists: no
        # Python string object per row, no type inference.
        self._code_names = pa.array(self._features, pa.large_string())
        self._text_names = pa.array(
            [reason_text.get(f, f) for f in self._features], pa.large_string()
        )
        self._grade_names = pa.array(list(policy.grades), pa.large_string())
        self._version = pa.array([model_version], pa.large_string())
        self._single: dict[tuple[Any, Any], Any] = {}  # one-row text columns, by value
        groups: dict[str, list[int]] = {}
        for j, f in enumerate(self._features):
            g = f if reason_groups is None else reason_groups.get(f)
            if g is not None:
                groups.setdefault(g, []).append(j)
        self._group_members = [np.asarray(m, dtype=np.int64) for m in groups.values()]
        # The grouped features in one order, each group's members side by side, so a row
        # block is permuted once and every group is a contiguous slice of it.
        self._perm = np.concatenate(self._group_members) if groups else np.empty(0, dtype=np.int64)
        sizes = [len(m) for m in self._group_members]
        self._bounds = np.cumsum([0, *sizes])
        self._levels = {c: pd.Index(v) for c, v in spec.categories.items()}
        self._arrow_levels = {
            c: pa.array(list(v), pa.large_string())
            for c, v in spec.categories.items()
            if all(isinstance(level, str) for level in v)
        }
        self._position = {f: j for j, f in enumerate(self._features)}
        self._numeric = {f for f in self._features if f not in spec.categories}
        self._numeric_list = [f for f in self._features if f in self._numeric]
        self._numeric_pos = [self._position[f] for f in self._numeric_list]
        self._categorical_list = [f for f in self._features if f in spec.categories]
        self._categorical_pos = [self._position[f] for f in self._categorical_list]
        self._level_codes = {
            c: {level: float(i) for i, level in enumerate(v)} for c, v in spec.categories.items()
        }
        self._feature_index = pd.Index(self._features)
        self._last_columns: tuple[pd.Index, np.ndarray | None] | None = None
        self.columns = [c.name for c in output_columns(policy.reasons)]
        self._numeric_out = {c.name for c in output_columns(policy.reasons) if c.type == "double"}

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The float matrix LightGBM sees: numbers, and category codes of the training levels
        (an unseen or missing level is NaN).

        Raises:
            FeatureMatrixError: missing columns (all listed) or a non-numeric value in a
                numeric column (column and rows named).
        """
        positions = self._positions(frame.columns)
        if positions is None or (positions < 0).any():
            missing = [c for c in self._features if c not in frame.columns]
            if missing:
                raise FeatureMatrixError(f"scoring input: missing required column(s) {missing}")
        if len(frame) <= FEW_ROWS and positions is not None:
            fast = self._few_rows(frame, positions)
            if fast is not None:
                return fast
        X = np.empty((len(frame), len(self._features)), dtype="float64")
        # Column by column: each is a view converted once, with no block copy of the frame
        # (for a batch, several times faster than selecting the columns and interleaving).
        for j, name in zip(self._numeric_pos, self._numeric_list, strict=True):
            X[:, j] = numeric_values(frame[name], name, "scoring input")
        for j, name in zip(self._categorical_pos, self._categorical_list, strict=True):
            X[:, j] = self._category_codes(frame[name], name)
        return X

    def _category_codes(self, col: pd.Series, name: str) -> np.ndarray:
        """Position of each value among the training levels; NaN when missing or unseen."""
        arrow_levels = self._arrow_levels.get(name)
        if arrow_levels is not None and col.dtype == TEXT:
            # Text held by Arrow (pandas' default): looked up by Arrow, no Python objects.
            found = pc.index_in(pa.array(col.array), value_set=arrow_levels)
            return np.asarray(found.to_numpy(zero_copy_only=False), dtype="float64")
        codes = self._levels[name].get_indexer(pd.Index(col.astype(object))).astype("float64")
        codes[codes < 0] = np.nan
        return codes

    def _positions(self, columns: pd.Index) -> np.ndarray | None:
        """Where each model feature is among ``columns`` (-1: absent); None when the
        columns repeat a name. Remembered for the last column set seen (a service scores
        one row after another with the same columns)."""
        last = self._last_columns
        if last is not None and (last[0] is columns or last[0].equals(columns)):
            return last[1]
        found = np.asarray(columns.get_indexer(self._feature_index)) if columns.is_unique else None
        self._last_columns = (columns, found)
        return found

    def _few_rows(self, frame: pd.DataFrame, positions: np.ndarray) -> np.ndarray | None:
        """The matrix of a few rows (a single request) from one conversion of the whole
        frame, without pandas' per-column machinery; None when a value needs the general
        path (which converts it, or names the column and row that cannot be)."""
        values = frame.to_numpy(dtype=object)[:, positions]
        X = np.empty(values.shape, dtype="float64")
        try:
            numeric = values[:, self._numeric_pos]
            if any(v is None or v is pd.NA or isinstance(v, str) for v in numeric.flat):
                return None
            X[:, self._numeric_pos] = numeric.astype("float64")
        except (TypeError, ValueError):
            return None
        for j, name in zip(self._categorical_pos, self._categorical_list, strict=True):
            codes = self._level_codes[name]
            X[:, j] = [codes.get(v, np.nan) if isinstance(v, str) else np.nan for v in values[:, j]]
        return X

    def score(self, frame: pd.DataFrame, *, reasons: bool = True) -> pd.DataFrame:
        """Score every row, in input order (extra columns are ignored). ``reasons=False``:
        the decisions without reason codes (their columns empty), from the raw margin
        instead of the SHAP contributions, several times faster, for tables over whole
        periods that need PDs, grades and limits only."""
        n = len(frame)
        p = self.policy
        if n == 0:
            return self._empty()
        X = self.matrix(frame)
        if reasons:
            margin, top = self._contributions(X, p.reasons)
        else:
            margin = np.asarray(self.booster.predict(X, raw_score=True), dtype="float64")
            top = np.full((n, p.reasons), -1, dtype=np.int64)
        pd_ = self.calibrator.predict(margin)
        # Rules see numeric model features as the model does (converted to numbers).
        columns = {
            c: X[:, self._position[c]] if c in self._numeric else _values(frame, c)
            for c in p.rule_features
        }
        grade_idx, fired = apply_rules(p, band_grades(p, pd_), pd_, columns)
        if p.income_column in self._numeric:
            income = X[:, self._position[p.income_column]]
        elif p.income_column in frame.columns:
            income = numeric_values(frame[p.income_column], p.income_column, "scoring input")
        else:
            income = np.full(n, np.nan)
        limits = credit_limits(p, pd_, grade_idx, income)
        out: dict[str, Any] = {
            ID_COLUMN: _ids(frame),
            "pd": pd_,
            "score": np.round(
                score_points(pd_, base_points=p.base_points, base_odds=p.base_odds, pdo=p.pdo),
                1,
            ),
            "grade": self._text(self._grade_names, grade_idx),
            "credit_limit": limits["credit_limit"],
            "limit_policy": self._strings(limits["limit_policy"]),
        }
        for i in range(p.reasons):
            out[f"reason_{i + 1}"] = self._text(self._code_names, top[:, i])
        for i in range(p.reasons):
            out[f"reason_text_{i + 1}"] = self._text(self._text_names, top[:, i])
        out["rating_rule"] = self._strings(fired)
        out["limit_reason"] = self._strings(limit_reasons(p, limits["limit_policy"], income))
        out["model_limit"] = limits["model_limit"]
        out["formula_limit"] = limits["formula_limit"]
        out["margin"] = margin
        out["model_version"] = self._text(self._version, np.zeros(n, dtype=np.int64))
        # The frame copies its columns (so the kept single-row texts are never shared).
        return pd.DataFrame(out, index=frame.index)

    def _text(self, names: pa.Array, positions: np.ndarray) -> Any:
        """A text column: ``names[position]`` per row, missing where the position is -1."""
        if len(positions) != 1:
            return _taken_text(names, positions)
        return self._one_row((id(names), int(positions[0])), lambda: _taken_text(names, positions))

    def _strings(self, values: np.ndarray) -> Any:
        """A text column from str or None values."""
        if len(values) != 1:
            return _arrow_text(values)
        return self._one_row(("value", values[0]), lambda: _arrow_text(values))

    def _one_row(self, key: tuple[Any, Any], build: Callable[[], Any]) -> Any:
        """A single row's text column (a service's request), built once per value and
        reused: the values are feature names, grades and the policy's texts, a handful
        (at most ``SINGLE_TEXTS`` are kept)."""
        found = self._single.get(key)
        if found is None:
            found = build()
            if len(self._single) < SINGLE_TEXTS:
                self._single[key] = found
        return found

    def _contributions(self, X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw margin of each row and the feature positions of its k reasons.

        One ``pred_contrib`` pass gives both. Rows go in blocks of ``REASON_BLOCK``, each
        block's contributions used while they are still in cache, rather than one matrix
        of contributions for the whole batch.
        """
        n = len(X)
        # Small batches on one thread: waking an OpenMP team costs more than it saves.
        threads: dict[str, Any] = {"num_threads": 1} if n < SMALL_BATCH else {}
        margin = np.empty(n, dtype="float64")
        top = np.empty((n, k), dtype=np.int64)
        for start in range(0, n, REASON_BLOCK):
            end = min(start + REASON_BLOCK, n)
            contrib = np.asarray(self.booster.predict(X[start:end], pred_contrib=True, **threads))
            margin[start:end] = contrib.sum(axis=1)
            top[start:end] = self._reasons(contrib[:, :-1], k)
        return margin, top

    def grade_index(self, X: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        """Grade (index into ``policy.grades``) of matrix rows, rating rules applied: the
        decision's grade without reasons or limits (for searches that score many
        variants of the same rows; ``frame`` gives the non-numeric rule columns)."""
        return self._pd_and_grade(X, frame)[1]

    def pd_and_grade(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The PD-only path: each row's calibrated PD and grade (index into
        ``policy.grades``, rating rules applied) from the raw margin, without reasons or
        limits, for monitoring, backtests and model comparisons over whole periods. Rows
        go in blocks of ``PD_BLOCK``, so the float matrix is never the whole frame's."""
        n = len(frame)
        pd_ = np.empty(n, dtype="float64")
        grade = np.empty(n, dtype=np.int64)
        for start in range(0, n, PD_BLOCK):
            block = frame.iloc[start : start + PD_BLOCK]
            pd_[start : start + len(block)], grade[start : start + len(block)] = self._pd_and_grade(
                self.matrix(block), block
            )
        return pd_, grade

    def _pd_and_grade(self, X: np.ndarray, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        p = self.policy
        margin = np.asarray(self.booster.predict(X, raw_score=True))
        pd_ = np.asarray(self.calibrator.predict(margin), dtype="float64")
        columns = {
            c: X[:, self._position[c]] if c in self._numeric else _values(frame, c)
            for c in p.rule_features
        }
        grade_idx, _ = apply_rules(p, band_grades(p, pd_), pd_, columns)
        return pd_, np.asarray(grade_idx)

    def position(self, feature: str) -> int:
        """Column of a feature in :meth:`matrix`."""
        return self._position[feature]

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions to the raw margin per feature, plus ``expected_value``."""
        contrib = self.booster.predict(self.matrix(frame), pred_contrib=True)
        return pd.DataFrame(contrib, columns=[*self._features, "expected_value"], index=frame.index)

    def _reasons(self, contrib: np.ndarray, k: int) -> np.ndarray:
        """Feature positions of the k reason groups raising the margin most, largest
        first, each named by its feature raising the margin most; -1 where fewer than k
        groups raise it (a reason must raise the risk). ``contrib`` is one block of rows
        (:meth:`_contributions`), small enough to stay in cache."""
        n = contrib.shape[0]
        if not self._group_members:
            return np.full((n, k), -1, dtype=np.int64)
        # per group: the largest contribution and the feature holding it (one permuted
        # copy of the block puts each group's members side by side)
        groups = len(self._group_members)
        best_value = np.empty((n, groups), dtype="float64")
        best_feature = np.empty((n, groups), dtype=np.int64)
        block = contrib[:, self._perm]
        for g in range(groups):
            a, b = self._bounds[g], self._bounds[g + 1]
            if b - a == 1:  # a group of one feature: its own contribution
                best_value[:, g] = block[:, a]
                best_feature[:, g] = self._perm[a]
                continue
            members = block[:, a:b]
            pick = members.argmax(axis=1)
            best_value[:, g] = np.take_along_axis(members, pick[:, None], axis=1)[:, 0]
            best_feature[:, g] = self._perm[pick + a]
        top_group, values = self._top(best_value, k)
        top = np.take_along_axis(best_feature, top_group, axis=1)
        top[values <= 0] = -1
        if top.shape[1] < k:
            top = np.hstack([top, np.full((n, k - top.shape[1]), -1, dtype=np.int64)])
        return top

    @staticmethod
    def _top(contrib: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of the k largest values per row, largest first (ties:
        the first column; a stable sort of the few reason groups)."""
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(contrib, top, axis=1)

    def _empty(self) -> pd.DataFrame:
        numeric = self._numeric_out
        return pd.DataFrame(
            {c: pd.Series(dtype="float64" if c in numeric else "object") for c in self.columns}
        )


TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default string type


def _taken_text(names: pa.Array, positions: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A text column: ``names[position]`` per row, missing where the position is -1."""
    taken = names.take(pa.array(positions, mask=positions < 0))
    column: pd.api.extensions.ExtensionArray = pd.array(taken, dtype=TEXT)
    return column


def _arrow_text(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A text column from an array of str or None, converted by Arrow directly."""
    column: pd.api.extensions.ExtensionArray = pd.array(
        pa.array(values, type=pa.large_string(), from_pandas=True), dtype=TEXT
    )
    return column


def _ids(frame: pd.DataFrame) -> Any:
    """The customer ids as given (no copy when they already are text), None without them."""
    if ID_COLUMN not in frame.columns:
        return None
    col = frame[ID_COLUMN]
    return col.array if col.dtype == TEXT else col.to_numpy()


def _values(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = frame[name]
    if col.dtype.kind in "fiub":
        return col.to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.astype(object).to_numpy()
    return col.to_numpy(dtype=object)
