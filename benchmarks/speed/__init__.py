"""How fast, how much memory, how steady: speed and service figures, each against a baseline of the
same run."""
