"""The decision service: decisions at the point of sale and events as they happen, over
the same feature definitions as the batch stages."""
