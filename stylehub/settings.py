"""What every settings dataclass (one per engine, shared by the CLI and the app) can do."""
from __future__ import annotations

import dataclasses

from .errors import SettingsError


class Settings:
    def replace(self, **changes):
        """A copy with some fields changed; an unknown field name is an error, not silently ignored."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
