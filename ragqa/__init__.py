"""ragqa: cited answers from a corpus of Japanese blog posts."""

__version__ = "0.1.0"
