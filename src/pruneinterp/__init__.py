"""pruneinterp: what pruning does to a network's accuracy, interpretability and representations."""

__version__ = "0.1.0"
