"""Example exports built from the synthetic history (the shapes real users bring)."""
