"""What the stages share: typed params, the stage runner, file helpers and the catalogue of
file names, MLflow tracking and registry, the action-store adapter, the ``creditrisk``
command line and the settings check. No module here computes a domain result."""
