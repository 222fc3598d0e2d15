"""Review backend for jupyter-trevor."""
