"""The practical limit of bench 1: a bare `requests` loop paging a list and printing each record as a JSON line.

    python bench/bare_loop.py --api-url URL --accounts-url URL [--path tickets] [--page-size 100]

One access token, one session, `from`/`limit` paging until a 204 or a short page; no schema work, no state.
The collector variant (`--collector URL --source ID --credential C --partition P`) pages the drain API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integration_tests.fake_zoho import defaults


def zoho(args: argparse.Namespace) -> int:
    session = requests.Session()
    token = session.post(f"{args.accounts_url}/oauth/v2/token", params={
        "grant_type": "refresh_token", "refresh_token": defaults.REFRESH_TOKEN,
        "client_id": defaults.CLIENT_ID, "client_secret": defaults.CLIENT_SECRET}, timeout=60).json()["access_token"]
    session.headers.update({"Authorization": f"Zoho-oauthtoken {token}", "orgId": defaults.ORG_ID})
    write = sys.stdout.write
    offset = 0
    count = 0
    while True:
        response = session.get(f"{args.api_url}/{args.path}", params={"from": offset, "limit": args.page_size},
                               timeout=120)
        response.raise_for_status()
        if response.status_code == 204:
            break
        items = response.json()["data"]
        for item in items:
            write(json.dumps(item) + "\n")
        count += len(items)
        if len(items) < args.page_size:
            break
        offset += args.page_size
    sys.stdout.flush()
    return 0 if count else 1


def drain(args: argparse.Namespace) -> int:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.credential}"
    url = f"{args.collector}/v1/sources/{args.source}/partitions/{args.partition}/events"
    write = sys.stdout.write
    after = 0
    while True:
        response = session.get(url, params={"after_seq": after, "limit": args.page_size}, timeout=120)
        response.raise_for_status()
        events = response.json()["events"]
        for event in events:
            write(json.dumps(event["payload"]) + "\n")
        if len(events) < args.page_size:
            break
        after = events[-1]["seq"]
    sys.stdout.flush()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url")
    parser.add_argument("--accounts-url")
    parser.add_argument("--path", default="tickets")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--collector")
    parser.add_argument("--source")
    parser.add_argument("--credential")
    parser.add_argument("--partition", default="tickets")
    args = parser.parse_args()
    return drain(args) if args.collector else zoho(args)


if __name__ == "__main__":
    sys.exit(main())
