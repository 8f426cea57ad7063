"""Synthetic raw history with a known true default probability."""
