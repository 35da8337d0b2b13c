"""digindex: a real-time digitization index for Indian districts."""

__version__ = "0.1.0"
__all__ = ["__version__"]
