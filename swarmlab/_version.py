"""The package version: a leaf, so a module that shows it imports nothing else for it."""
__version__ = "0.1.0"
