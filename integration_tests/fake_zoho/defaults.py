"""Credentials, org id and limits the fake Zoho Desk accepts out of the box (tests and the demo use these)."""

from __future__ import annotations

# Zoho org ids and OAuth client ids are long digit strings; the values only need the same shape.
ORG_ID = "60001234567"
CLIENT_ID = "1000.FAKEZOHOCLIENTID0000000000000"
CLIENT_SECRET = "fakezohoclientsecret0000000000000000000000"
REFRESH_TOKEN = "1000.fakerefreshtoken00000000000000.fakerefreshtoken0000000000000000"
GRANT_CODE = "1000.fakegrantcode0000000000000000.fakegrantcode00000000000000000"

# The token response's api_domain is Zoho's generic API host, never the Desk host (notes section 1).
API_DOMAIN = "https://www.zohoapis.com"
ACCESS_TOKEN_TTL_S = 3600
GRANT_CODE_TTL_S = 180
# Zoho Accounts: at most 10 access tokens per refresh token in a rolling 10 minutes (notes section 2).
TOKENS_PER_WINDOW = 10
TOKEN_WINDOW_S = 600

# Professional edition: 75,000 daily credits, 5 enabled webhooks (notes sections 5 and 6).
EDITION = "PROFESSIONAL"
DAILY_CREDITS = 75_000
CREDITS_RETRY_AFTER_S = 60
WEBHOOK_ENABLED_LIMIT = 5
WEBHOOK_TOTAL_LIMIT = 20
SEARCH_MAX_FROM = 999

SEED = 7
# Small by default so a whole test suite stays fast; a test passes sizes={...} for more.
SIZES: dict[str, int] = {
    "tickets": 60,
    "departments": 3,
    "agents": 12,
    "teams": 4,
    "contacts": 40,
    "accounts": 15,
    "products": 10,
    "contracts": 8,
    "tasks": 20,
    "calls": 15,
    "events": 10,
    "articles": 12,
    "layouts": 2,
}
# Child records per ticket are drawn from 0..max, so some tickets have none.
CHILDREN_MAX: dict[str, int] = {
    "ticket_threads": 3,
    "ticket_comments": 3,
    "ticket_attachments": 2,
    "ticket_time_entries": 2,
}
