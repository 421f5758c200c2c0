"""The start-up shortcut still applies to the installed serpyco-rs, and the protocol is encoded the same."""

from __future__ import annotations

import subprocess
import sys

import orjson


def test_the_schema_builder_hook_is_patched_before_the_cdk_is_imported():
    # A fresh interpreter: in this one airbyte-cdk may have been imported before source_zoho_desk.
    code = (
        "import source_zoho_desk, serpyco_rs._json_schema._convert as c, source_zoho_desk.startup as s;"
        "print(c.get_attributes_doc is s._no_attribute_docs)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr


def test_protocol_messages_encode_the_same_with_and_without_attribute_docs():
    code = (
        "import sys, orjson\n"
        "if sys.argv[1] == 'patched':\n"
        "    from source_zoho_desk.startup import skip_protocol_attribute_docs\n"
        "    assert skip_protocol_attribute_docs()\n"
        "from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, AirbyteRecordMessage, Type\n"
        "m = AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream='tickets', data={'id': '1',"
        " 'cf': {'a': None}}, emitted_at=1))\n"
        "print(orjson.dumps(AirbyteMessageSerializer.dump(m)).decode())\n"
    )
    outputs = [
        subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                       timeout=120).stdout
        for mode in ("plain", "patched")
    ]
    assert outputs[0] == outputs[1]
    assert orjson.loads(outputs[1])["record"]["data"] == {"id": "1", "cf": {"a": None}}
