"""The ``creditrisk`` console command: runs :mod:`pipelines.ops` of the project in the
current folder (the stages' code lives beside ``params.yaml``, not in the package)."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    root = Path.cwd()
    if not (root / "params.yaml").exists() or not (root / "pipelines/ops.py").exists():
        print(
            "creditrisk: run it from the project's root (the folder with params.yaml and "
            "pipelines/)",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(root))
    from pipelines.ops import main as ops_main  # the project's own command

    return int(ops_main(sys.argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
