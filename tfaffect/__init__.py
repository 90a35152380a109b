"""tfaffect: deep models for facial affect in the wild (valence, arousal, expressions), in Keras 3.

Importing the package is cheap: TensorFlow and Keras load only when a submodule that needs them
is imported.
"""

__version__ = "0.1.0"

EXPRESSIONS_7 = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
"""The 7 basic expression classes in Aff-Wild2 / ABAW1 order (FORMATS.md, Aff-Wild2 EXPR_Set)."""

__all__ = ["__version__", "EXPRESSIONS_7"]
