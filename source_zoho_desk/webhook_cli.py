"""`source-zoho-desk webhook register|remove|status`: manage the Zoho Desk webhook that feeds the collector."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from source_zoho_desk.webhooks import (
    DEFAULT_NAME,
    EDITION_LIMITS,
    FAILED,
    STREAM_EVENTS,
    USAGE,
    DeskWebhooks,
    WebhookError,
    describe_subscriptions,
    parse_streams,
    plural,
    redact_url,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="source-zoho-desk webhook",
        description="Register, inspect or remove the Zoho Desk webhook that delivers events to the collector. "
        "Exit codes: 0 done, 1 Zoho/network/credentials refused, 2 bad arguments or config (nothing sent).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", required=True, type=Path, help="the connector config JSON (as for check/read)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        return p

    register = command("register", "create the webhook, or update the existing one (same name or URL)")
    register.add_argument("--service-url", required=True,
                          help="the data source's service_url printed by `source-zoho-desk collector create-source`")
    register.add_argument("--name", default=DEFAULT_NAME, help=f"webhook name (default {DEFAULT_NAME})")
    register.add_argument("--streams", default=None,
                          help=f"comma-separated streams to subscribe (default all: {','.join(STREAM_EVENTS)})")
    register.add_argument("--include-automation", action="store_true",
                          help="also receive changes made by workflows, macros and blueprints")

    remove = command("remove", "delete the webhook (by name, default the connector's, or by id)")
    which = remove.add_mutually_exclusive_group()
    which.add_argument("--name", default=DEFAULT_NAME, help=f"delete every webhook with this name ({DEFAULT_NAME})")
    which.add_argument("--id", dest="hook_id", help="delete the webhook with this id")

    status = command("status", "list this connector's webhooks, enabled or not")
    status.add_argument("--name", default=DEFAULT_NAME, help=f"webhook name to look for (default {DEFAULT_NAME})")
    return parser


def _load_config(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WebhookError(f"Cannot read --config {path}: {exc}", USAGE) from None
    if not isinstance(raw, dict):
        raise WebhookError(f"--config {path} must hold a JSON object (the connector config).", USAGE)
    return raw


def _client(path: Path) -> DeskWebhooks:
    raw = _load_config(path)
    before = copy.deepcopy(raw)
    client = DeskWebhooks.from_raw_config(raw)
    if raw != before:
        # The grant code was spent on a refresh token; keep it, or the next run fails with invalid_code.
        try:
            path.write_text(json.dumps(raw, indent=2) + "\n")
            print(f"Exchanged credentials.grant_code; stored the refresh token in {path}.", file=sys.stderr)
        except OSError as exc:
            print(f"Exchanged credentials.grant_code but could not store the refresh token in {path} ({exc}); "
                  "run `source-zoho-desk exchange-code` with a new code.", file=sys.stderr)
    return client


def _summary(hook: dict[str, Any]) -> dict[str, Any]:
    subscriptions = hook.get("subscriptions") or {}
    return {
        "id": str(hook.get("id")),
        "name": hook.get("name"),
        "isEnabled": bool(hook.get("isEnabled")),
        "url": redact_url(str(hook.get("url") or "")),
        "includeEventsFrom": hook.get("includeEventsFrom") or [],
        "subscriptions": subscriptions,
    }


def _register(args: argparse.Namespace) -> int:
    streams = parse_streams(args.streams)  # before any call: a typo must not cost a token
    client = _client(args.config)
    result = client.register(args.service_url, args.name, streams, args.include_automation)
    hook = _summary(result.webhook)
    action = "created" if result.created else "updated"
    for other in result.others:
        why = ("also delivers to this service URL, so Zoho sends every event twice"
               if other.get("url") == args.service_url else "has the same name")
        print(f"warning: webhook {other.get('id')} ('{other.get('name')}') {why}; remove it with "
              f"`source-zoho-desk webhook remove --id {other.get('id')}`.", file=sys.stderr)
    if args.json:
        print(json.dumps({"action": action, "streams": list(streams), **hook}, indent=2))
        return 0
    state = "enabled" if hook["isEnabled"] else "disabled"
    print(f"{action.capitalize()} webhook {hook['id']} '{hook['name']}' ({state}) delivering to {hook['url']}.")
    print(f"Subscribed {plural(len(hook['subscriptions']), 'event')} for {plural(len(streams), 'stream')}:")
    for line in describe_subscriptions(hook["subscriptions"]):
        print(f"  {line}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    client = _client(args.config)
    removed = client.remove(args.name, args.hook_id)
    if args.json:
        print(json.dumps({"removed": [str(h.get("id")) for h in removed]}))
    elif not removed:
        print(f"No webhook named '{args.name}' in org {client.config.org_id}; nothing to remove.")
    for hook in removed if not args.json else ():
        print(f"Removed webhook {hook.get('id')} '{hook.get('name')}' ({redact_url(str(hook.get('url') or ''))}).")
    return 0


def _status(args: argparse.Namespace) -> int:
    client = _client(args.config)
    everything = client.all_webhooks()
    ours = [_summary(h) for h in client.ours(args.name, everything)]
    enabled = sum(1 for h in everything if h.get("isEnabled"))
    if args.json:
        print(json.dumps({"webhooks": ours, "org_webhooks": len(everything), "org_enabled": enabled}, indent=2))
        return 0
    print(f"Org {client.config.org_id}: {plural(len(everything), 'webhook')}, {enabled} enabled "
          f"(Zoho Desk allows {EDITION_LIMITS} enabled).")
    if not ours:
        print(f"No webhook of this connector ('{args.name}'); create one with `source-zoho-desk webhook register "
              "--config F --service-url URL`.")
    for hook in ours:
        state = "enabled" if hook["isEnabled"] else "disabled"
        print(f"{hook['id']}  {state}  '{hook['name']}'  {hook['url']}  {plural(len(hook['subscriptions']), 'event')}")
        for line in describe_subscriptions(hook["subscriptions"]):
            print(f"    {line}")
    return 0


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (2) or the help (0)
        return int(exc.code or 0) if isinstance(exc.code, int) else USAGE
    handlers = {"register": _register, "remove": _remove, "status": _status}
    try:
        return handlers[args.command](args)
    except WebhookError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code if exc.exit_code in (FAILED, USAGE) else FAILED
