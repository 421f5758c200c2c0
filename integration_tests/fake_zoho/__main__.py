"""`python -m integration_tests.fake_zoho`: serve a fake Zoho Desk in the foreground; prints its URLs as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from integration_tests.fake_zoho import defaults
from integration_tests.fake_zoho.server import FakeZohoServer
from integration_tests.fake_zoho.state import FakeZoho


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.fake_zoho", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=defaults.SEED)
    parser.add_argument("--tickets", type=int, default=None, help="number of tickets")
    parser.add_argument("--size", action="append", default=[], metavar="STREAM=N",
                        help="record count of any stream (children: max per ticket); repeatable")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--no-token-rate-limit", action="store_true",
                        help="allow more than 10 access tokens per refresh token per 10 minutes")
    parser.add_argument("--epoch-times", action="store_true", help="send ticket times as epoch ms")
    parser.add_argument("--credits", type=int, default=defaults.DAILY_CREDITS,
                        help="daily API credit budget (deep offsets cost up to 100 credits per page)")
    args = parser.parse_args(argv)
    sizes: dict[str, int] = {}
    for item in args.size:
        name, _, value = item.partition("=")
        sizes[name] = int(value)
    if args.tickets is not None:
        sizes["tickets"] = args.tickets
    fake = FakeZoho(sizes=sizes, seed=args.seed)
    fake.configure(latency_ms=args.latency_ms, token_rate_limit=not args.no_token_rate_limit,
                   credits_remaining=args.credits,
                   epoch_time_streams=["tickets"] if args.epoch_times else [])
    server = FakeZohoServer(fake, port=args.port, host=args.host)
    # Printed before the loop starts: the socket is already bound and listening, so clients can connect.
    server.sock.listen(128)
    print(json.dumps({"base_url": server.base_url, "api_url": server.api_url,
                      "accounts_url": server.accounts_url}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
