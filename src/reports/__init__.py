"""Documents generated from pipeline outputs: the model card."""
