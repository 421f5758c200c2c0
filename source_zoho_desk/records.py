"""Record normalisation: Zoho sends times as ISO-8601 strings or epoch milliseconds; records carry ISO-8601 UTC."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso_from_epoch_ms(value: int | float) -> str:
    moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalise_time(value: Any) -> Any:
    """Epoch ms (number or digit string) → ISO-8601 UTC; anything else passes through untouched."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return iso_from_epoch_ms(value)
    if isinstance(value, str) and value.isdigit() and len(value) >= 10:
        return iso_from_epoch_ms(int(value))
    return value


def _is_time(schema: Mapping[str, Any]) -> bool:
    return schema.get("format") == "date-time"


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


@dataclass(frozen=True)
class TimeFields:
    """The date-time fields of a stream schema as a small tree, walked once per record."""

    here: frozenset[str] = frozenset()
    nested: Mapping[str, TimeFields] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any], depth: int = 0) -> TimeFields:
        here = frozenset(name for name, sub in _properties(schema).items() if _is_time(sub))
        nested: dict[str, TimeFields] = {}
        if depth < 3:
            for name, sub in _properties(schema).items():
                child = cls.from_schema(sub, depth + 1) if _properties(sub) else None
                if child and (child.here or child.nested):
                    nested[name] = child
        return cls(here, nested)

    def normalise(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name in self.here:
            value = record.get(name)
            if value is not None:
                record[name] = normalise_time(value)
        for name, child in self.nested.items():
            value = record.get(name)
            if isinstance(value, MutableMapping):
                child.normalise(value)
        return record
