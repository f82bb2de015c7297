"""The one exception family StyleHub raises: every message says what went wrong and what to do."""


class StyleHubError(Exception):
    """Base class of every error StyleHub raises on purpose."""


class ImageError(StyleHubError):
    """An input image cannot be read or is outside the supported limits."""


class WeightsUnavailableError(StyleHubError):
    """Pretrained backbone weights cannot be obtained (offline, missing or wrong file)."""


class SettingsError(StyleHubError):
    """A setting is out of range or names something that does not exist."""
