"""StyleHub: neural style transfer by optimisation, fast feed-forward networks and multi-style blending."""
from .errors import ImageError, SettingsError, StyleHubError, WeightsUnavailableError

__version__ = "0.1.0"
__all__ = ["StyleHubError", "ImageError", "SettingsError", "WeightsUnavailableError", "__version__"]
