"""The typed settings that params.yaml is validated into: plain data, no numerical code.

These leaf modules import nothing of the project's logic (no NumPy, pandas or LightGBM),
so ``pipelines/support/params.py`` can type every section without making each stage depend on
the modules that apply the rules (``creditrisk.models.policy``, ``...fairness``,
``creditrisk.monitoring.warnings``).
"""
