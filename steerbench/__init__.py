"""steerbench: measure how reliably linear steering directions control refusal."""

__version__ = "0.1.0"
