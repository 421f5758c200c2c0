"""Record normalisation: times (ISO strings or epoch ms from Zoho) become ISO-8601 UTC, numeric ids strings."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 4


def iso_from_epoch_ms(value: int | float) -> str:
    # isoformat is several times faster than strftime, and pads years below 1000 to four digits as ISO wants.
    return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def normalise_time(value: Any) -> Any:
    """Epoch ms (number or digit string) → ISO-8601 UTC; 0 (Zoho's "not set") → None; other values untouched."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, (int, float)):
        return iso_from_epoch_ms(value) if value else None
    return value


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    return {declared} if isinstance(declared, str) else set(declared or [])


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def _item_properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    items = schema.get("items")
    return _properties(items) if isinstance(items, Mapping) else {}


@dataclass(frozen=True)
class RecordShape:
    """The fields of a stream schema that need normalising, as a small tree walked once per record."""

    times: frozenset[str] = frozenset()
    strings: frozenset[str] = frozenset()  # Zoho types ids and counts as string-or-int64: emit strings
    objects: Mapping[str, RecordShape] = field(default_factory=dict)
    arrays: Mapping[str, RecordShape] = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any], depth: int = 0) -> RecordShape:
        props = _properties(schema)
        times = frozenset(name for name, sub in props.items() if sub.get("format") == "date-time")
        strings = frozenset(
            name for name, sub in props.items()
            if _types(sub) & {"string"} and not _types(sub) & {"integer", "number"} and name not in times
        )
        objects: dict[str, RecordShape] = {}
        arrays: dict[str, RecordShape] = {}
        if depth < MAX_DEPTH:
            for name, sub in props.items():
                if _properties(sub):
                    child = cls.from_schema(sub, depth + 1)
                    if child:
                        objects[name] = child
                elif _item_properties(sub):
                    child = cls.from_schema(sub["items"], depth + 1)
                    if child:
                        arrays[name] = child
        return cls(times, strings, objects, arrays)

    def __bool__(self) -> bool:
        return bool(self.times or self.strings or self.objects or self.arrays)

    def normalise(self, record: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        # Hot path (every record of every sync): exact type checks, since JSON gives dicts, lists, strs and
        # ints, and isinstance against the collections ABCs costs several times more.
        for name in self.times:
            value = record.get(name)
            if value is not None and (type(value) is not str or value.isdigit()):
                record[name] = normalise_time(value)
        for name in self.strings:
            value = record.get(name)
            if type(value) is int:
                record[name] = str(value)
        for name, child in self.objects.items():
            value = record.get(name)
            if type(value) is dict:
                child.normalise(value)
        for name, child in self.arrays.items():
            value = record.get(name)
            if type(value) is list:
                for item in value:
                    if type(item) is dict:
                        child.normalise(item)
        return record
