"""Point-in-time features and labels from the raw contract tables."""
