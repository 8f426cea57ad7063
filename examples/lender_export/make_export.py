"""Write the lender-shaped example export: CSV files with a lender's own file and column
names, an outcomes table dated the day after the extraction date, every date in 2005.

Usage: python examples/lender_export/make_export.py --out build/lender-export/export
           [--customers 5000] [--seed 20261126]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from creditrisk.examples.lender_export import LENDER_FILES, build_lender_export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20261126)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    export = build_lender_export(n_customers=a.customers, seed=a.seed)
    for table, frame in export.items():
        frame.to_csv(a.out / LENDER_FILES[table], index=False)
        print(f"{LENDER_FILES[table]}: {len(frame):,} rows")


if __name__ == "__main__":
    main()
