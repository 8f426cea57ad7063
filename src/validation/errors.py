"""Errors that stop the pipeline, each naming the table, the column and example rows."""

from __future__ import annotations

import pandas as pd


class TableValidationError(ValueError):
    """A table cannot be used at all: unreadable, a required column missing, mostly invalid.

    Attributes:
        table: the contract table.
        column: the column at fault, or None when the whole file is.
        examples: a few offending rows (with their row number in the raw file), if any.
    """

    def __init__(
        self,
        table: str,
        message: str,
        *,
        column: str | None = None,
        examples: pd.DataFrame | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.examples = examples
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        text = f"{where}: {message}"
        if examples is not None and len(examples):
            text += "\nexample rows (row = position in the raw file):\n" + examples.to_string()
        super().__init__(text)
