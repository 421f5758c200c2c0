"""`source-zoho-desk collector …`: serve the collector and manage its data sources (service URLs, credentials)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from source_zoho_desk.collector.settings import DEFAULT_BODY_LIMIT, Settings, env
from source_zoho_desk.collector.sources import SQLiteSourceRegistry, UnknownSource

log = logging.getLogger("source_zoho_desk.collector")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env("DATA_DIR", "./collector-data") or "."),
        help="directory of queue.db and sources.db (env ZOHO_COLLECTOR_DATA_DIR)",
    )
    parser.add_argument(
        "--public-base-url",
        default=env("PUBLIC_BASE_URL"),
        help="public https://host[:port] Zoho reaches the collector at (env ZOHO_COLLECTOR_PUBLIC_BASE_URL)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="source-zoho-desk collector", description="Zoho Desk webhook collector for source-zoho-desk."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the collector (HTTP server)")
    _common(serve)
    serve.add_argument("--host", default=env("HOST", "0.0.0.0"))
    serve.add_argument("--port", type=int, default=int(env("PORT", "0") or 0), help="default 443 with TLS, else 80")
    serve.add_argument("--tls-cert", type=Path, default=env("TLS_CERT"), help="PEM certificate (chain) file")
    serve.add_argument("--tls-key", type=Path, default=env("TLS_KEY"), help="PEM private key file")
    serve.add_argument("--body-limit", type=int, default=int(env("BODY_LIMIT", str(DEFAULT_BODY_LIMIT)) or 0))
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        default=env("PROXY_HEADERS", "") in ("1", "true", "yes"),
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind a reverse proxy)",
    )
    serve.add_argument("--forwarded-allow-ips", default=env("FORWARDED_ALLOW_IPS", "127.0.0.1"))
    serve.add_argument(
        "--admin-token-file",
        type=Path,
        default=env("ADMIN_TOKEN_FILE"),
        help="file holding the bearer token of the /admin API (or env ZOHO_COLLECTOR_ADMIN_TOKEN); off if unset",
    )
    serve.add_argument("--jwks-url", default=env("JWKS_URL"), help="verify X-ZDesk-JWT against this JWKS URL")
    serve.add_argument("--jwks-file", type=Path, default=env("JWKS_FILE"), help="… or against this JWKS file")
    serve.add_argument(
        "--dedupe-window-hours",
        type=float,
        default=float(env("DEDUPE_WINDOW_HOURS", "168") or 168),
        help="how long acknowledged events' duplicate keys are kept (queued events' keys are always kept)",
    )
    serve.add_argument("--graceful-shutdown", type=float, default=float(env("GRACEFUL_SHUTDOWN", "30") or 30))
    serve.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))

    create = sub.add_parser("create-source", help="create a data source; prints its service URL and credential")
    _common(create)
    create.add_argument("--org-id", required=True, help="the Zoho Desk orgId its events carry")
    create.add_argument("--name", default="", help="a label for humans")

    for name, text in (
        ("rotate-url", "issue a new service URL (the old one stops working at once)"),
        ("rotate-credential", "issue a new drain credential (the old one stops working at once)"),
    ):
        rotate = sub.add_parser(name, help=text)
        _common(rotate)
        rotate.add_argument("source_id")

    listing = sub.add_parser("list-sources", help="list data sources (no secrets)")
    _common(listing)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # imported here so the management commands start fast

    from source_zoho_desk.collector import logs
    from source_zoho_desk.collector.app import create_app

    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.jwks_url and args.jwks_file:
        print("error: give --jwks-url or --jwks-file, not both", file=sys.stderr)
        return 2
    if args.body_limit < 1:
        print("error: --body-limit must be positive", file=sys.stderr)
        return 2
    if args.dedupe_window_hours < 0:
        print("error: --dedupe-window-hours must not be negative", file=sys.stderr)
        return 2
    admin_token = env("ADMIN_TOKEN")
    if args.admin_token_file:
        admin_token = args.admin_token_file.read_text().strip()
    port = args.port or (443 if args.tls_cert else 80)
    settings = Settings(
        data_dir=args.data_dir,
        public_base_url=args.public_base_url,
        host=args.host,
        port=port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        body_limit=args.body_limit,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        admin_token=admin_token or None,
        jwks_url=args.jwks_url,
        jwks_file=args.jwks_file,
        graceful_shutdown_s=args.graceful_shutdown,
        dedupe_window_s=args.dedupe_window_hours * 3600,
        log_level=args.log_level,
    )
    logs.configure(settings.log_level)
    if port not in (80, 443):
        # fine behind a proxy or a container port mapping; a mistake if Zoho is meant to connect directly
        log.warning("Zoho Desk only calls webhook URLs on port 80 or 443: publish this port as one of them",
                    extra={"port": port})
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=False,  # the app logs requests itself, without the token in the path
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
    return 0


def _print(data: object) -> None:
    print(json.dumps(data, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        return _serve(args)

    from source_zoho_desk.collector.app import issued_json

    settings = Settings(data_dir=args.data_dir, public_base_url=args.public_base_url)
    registry = SQLiteSourceRegistry(settings.sources_path)
    try:
        if args.command == "list-sources":
            _print({"sources": [s.to_json() for s in registry.list()]})
            return 0
        if args.command == "create-source":
            issued = registry.create(args.org_id, args.name)
        elif args.command == "rotate-url":
            issued = registry.rotate_url(args.source_id)
        else:
            issued = registry.rotate_credential(args.source_id)
    except UnknownSource:
        print(f"error: no data source {args.source_id!r} in {settings.sources_path}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        registry.close()
    if issued.url_token is not None and not settings.public_base_url:
        print(
            "warning: no --public-base-url (ZOHO_COLLECTOR_PUBLIC_BASE_URL); prefix service_path with it",
            file=sys.stderr,
        )
    _print(issued_json(settings, settings.public_base_url, issued))
    return 0
