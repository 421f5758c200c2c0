"""`source-zoho-desk exchange-code --config F`: trade a grant code for a refresh token outside Airbyte."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_zoho_desk.auth import exchange_grant_code
from source_zoho_desk.config import ZohoDeskConfig


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="source-zoho-desk exchange-code",
        description="Exchange credentials.grant_code for a refresh token and print it (or write the config back).",
    )
    parser.add_argument("--config", required=True, type=Path, help="connector config JSON with credentials.grant_code")
    parser.add_argument("--write", action="store_true", help="store the refresh token in the config file")
    args = parser.parse_args(argv)
    try:
        raw = json.loads(args.config.read_text())
    except (OSError, ValueError) as exc:
        print(f"Cannot read --config {args.config}: {exc}", file=sys.stderr)
        return 2
    try:
        settings = ZohoDeskConfig.from_mapping(raw)
        if not settings.grant_code:
            print("credentials.grant_code is empty: generate a code in the API Console first.", file=sys.stderr)
            return 2
        refresh_token = exchange_grant_code(settings)
    except AirbyteTracedException as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if args.write:
        raw["credentials"]["refresh_token"] = refresh_token
        raw["credentials"].pop("grant_code", None)
        args.config.write_text(json.dumps(raw, indent=2) + "\n")
        print(f"Stored the refresh token in {args.config} (credentials.refresh_token); grant_code removed.")
    else:
        print(refresh_token)
    return 0
