"""The one exception family StyleHub raises: every message says what went wrong and what to do."""


class StyleHubError(Exception):
    """Base class of every error StyleHub raises on purpose."""


class ImageError(StyleHubError):
    """An input image cannot be read or is outside the supported limits."""


class WeightsUnavailableError(StyleHubError):
    """Pretrained backbone weights cannot be obtained (offline, missing or wrong file)."""


class SettingsError(StyleHubError):
    """A setting is out of range or names something that does not exist."""


class HubError(StyleHubError):
    """The Hugging Face Hub refused a request or cannot be reached; a failed publish publishes nothing."""


class HubAuthError(HubError):
    """No token, a rejected token (401), or a token without the access the request needs (403)."""


class HubNotFoundError(HubError):
    """The repository, revision or file does not exist on the Hub, or is private to someone else (404)."""


class HubConflictError(HubError):
    """The repository changed on the Hub while publishing, or exists with another type (409)."""


class HubRateLimitError(HubError):
    """Too many requests: the Hub asks to wait before trying again (429)."""


class HubOfflineError(HubError):
    """HF_HUB_OFFLINE is set, or the Hub cannot be reached, and what is needed is not in the local cache."""


class OutputError(StyleHubError):
    """A file cannot be written: a folder without write permission, a full disk, a name too long."""


class StyleHubWarning(UserWarning):
    """Something StyleHub did differently from what was asked, and says so (e.g. used an animation's first frame)."""
