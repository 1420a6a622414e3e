"""mediamix: a declarative, YAML-driven pipeline runner for AI media generation."""

__version__ = "0.1.0"
