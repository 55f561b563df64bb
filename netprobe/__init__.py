"""netprobe: probe websites and apps from where you are and say how each one is blocked."""

__version__ = "0.1.0"

__all__ = ["__version__"]
