"""creditrisk: raw transaction and repayment history to a calibrated, explained credit decision."""

__version__ = "0.1.0"
