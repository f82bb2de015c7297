"""The Hugging Face Hub's failures as StyleHub's HubError subclasses, whose one-line messages say what to do.

huggingface_hub and the HTTP library under it (httpx or requests) raise many types; `translated` maps them by
HTTP status and kind, and keeps the token out of every message.
"""
from __future__ import annotations

import contextlib

from huggingface_hub import constants, get_token

from .errors import HubAuthError, HubConflictError, HubError, HubNotFoundError, HubOfflineError, HubRateLimitError


@contextlib.contextmanager
def translated(what: str):
    """Turn huggingface_hub's and the network's exceptions into HubError subclasses that say what to do."""
    try:
        yield
    except HubError:
        raise
    except Exception as err:
        mapped = _translate(err, what)
        if mapped is None:
            raise
        raise mapped from None


# What a refusal means, by HTTP status: the error class and the message after "cannot {what}: ".
STATUS_ERRORS = {
    401: (HubAuthError, "the Hub did not accept the token (401){said}; check the repo id, then log in with "
                        "`hf auth login` or set HF_TOKEN to a valid token"),
    403: (HubAuthError, "the token lacks the access this needs (403){said}; use a token with write access to that "
                        "namespace (https://huggingface.co/settings/tokens)"),
    404: (HubNotFoundError, "not found on the Hub (404); check the repo id (and revision); a private repo needs a "
                            "token of an account that can see it"),
    409: (HubConflictError, "conflict (409){said}; the repo changed meanwhile or exists with another type; nothing "
                            "was published: try again, or pick another name"),
    429: (HubRateLimitError, "the Hub is rate-limiting requests (429); wait {wait} and try again"),
}


def _translate(err: Exception, what: str) -> HubError | None:
    from huggingface_hub import errors

    cache_only = isinstance(err, errors.LocalEntryNotFoundError)  # the Hub could not be asked; the cause says why
    if cache_only and isinstance(err.__cause__, Exception):
        err = err.__cause__
    if isinstance(err, errors.HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if isinstance(err, errors.RevisionNotFoundError):
            kind, text = HubNotFoundError, "no such revision (404); check the branch, tag or commit"
        elif isinstance(err, errors.GatedRepoError):
            kind, text = HubAuthError, "the repo is gated; accept its conditions on its Hub page while logged in"
        elif status in STATUS_ERRORS:
            kind, text = STATUS_ERRORS[status]
        elif isinstance(err, (errors.RepositoryNotFoundError, errors.EntryNotFoundError)):
            kind, text = STATUS_ERRORS[404]
        elif status >= 500:
            kind, text = HubError, f"the Hub had a server error ({status}); try again later"
        else:
            kind, text = HubError, f"the Hub answered {status}{{said}}"
        wait = err.response.headers.get("Retry-After")
        text = text.format(said=f" (the Hub says: {err.server_message.strip()[:200]})" if err.server_message else "",
                           wait=f"{wait} s" if wait else "a few minutes")
    elif isinstance(err, errors.OfflineModeIsEnabled):
        kind, text = HubOfflineError, "HF_HUB_OFFLINE is set; unset it to use the network"
    elif cache_only or _is_network_error(err):
        kind, text = HubOfflineError, (f"the connection to the Hugging Face Hub ({constants.ENDPOINT}) failed "
                                       f"({type(err).__name__}); check the network connection and try again")
    else:
        return None
    return kind(_redact(" ".join(f"cannot {what}: {text}".split())))  # one line, whatever a server sent


def _is_network_error(err: Exception) -> bool:
    """A failed connection, whichever HTTP library huggingface_hub uses (httpx, requests) or the OS raised it."""
    names = {"TransportError", "ConnectionError", "ConnectError", "TimeoutException", "Timeout", "TimeoutError",
             "NetworkError", "ProxyError"}
    return any(cls.__name__ in names for cls in type(err).__mro__)


def _redact(text: str) -> str:
    """The text with the Hub token, should a server echo it, replaced by a placeholder."""
    try:
        token = get_token()
    except Exception:  # a broken token setup must not hide the error being reported
        return text
    return text.replace(token, "hf_***") if token else text
