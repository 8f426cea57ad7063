"""DVC stages: the only layer that touches disk, argv, params, MLflow and logging handlers."""
