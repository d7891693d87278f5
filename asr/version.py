"""The package version, in a leaf module: the checkpoint writer and the service read it without
importing the whole package API."""

__version__ = "0.1.0"
