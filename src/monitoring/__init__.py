"""Monitoring: drift of the scored population and graded early warnings."""
