"""Start-up shortcut, applied before airbyte-cdk is imported: the protocol serializers are built without docs.

Importing airbyte-cdk builds serpyco-rs serializers for the Airbyte protocol models. For each one serpyco-rs
also builds a JSON schema and, to fill in property descriptions, reads and parses the source code of every
model class (inspect.getsource + ast.parse). That is ~0.27 s of every spec, check, discover and read on the
2-core machine the benchmarks run on, a third of the CDK's import, and the connector never uses those
schemas: encoding and decoding do not read descriptions. If serpyco-rs ever moves the hook, nothing is
patched and start-up is just slower (unit_tests/test_startup.py notices).
"""

from __future__ import annotations

from typing import Any


def _no_attribute_docs(cls: Any) -> dict[str, str]:
    return {}


def skip_protocol_attribute_docs() -> bool:
    """Patch serpyco-rs's schema builder to skip attribute docs; True if it was patched."""
    try:
        from serpyco_rs._json_schema import _convert
    except ImportError:
        return False
    if not callable(getattr(_convert, "get_attributes_doc", None)):
        return False
    _convert.get_attributes_doc = _no_attribute_docs
    return True
