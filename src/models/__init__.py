"""Training, calibration, explanation and scoring policy."""
