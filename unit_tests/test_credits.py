"""CreditMeter: Zoho's credit tiers, per-stream usage, the balance under concurrency, and the credit budget."""

from __future__ import annotations

import logging

import pytest
import requests

from source_zoho_desk.credits import CreditBudgetExhausted, CreditMeter, list_call_credits


def _response(weight: int, remaining: int) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["X-Rate-Limit-Request-Weight-v3"] = str(weight)
    response.headers["X-Rate-Limit-Remaining-v3"] = str(remaining)
    return response


@pytest.mark.parametrize(("offset", "credits"), [(0, 3), (2_000, 3), (2_001, 5), (10_001, 10), (60_000, 50),
                                                 (100_001, 100)])
def test_list_call_tiers(offset, credits):
    assert list_call_credits(offset) == credits


def test_usage_per_stream_and_the_lowest_balance_seen(caplog):
    meter = CreditMeter()
    meter.record("tickets", _response(3, 900))
    meter.record("tickets", _response(3, 894))  # a concurrent call's answer that arrives first
    meter.record("contacts", _response(3, 897))
    assert (meter.usage("tickets").calls, meter.usage("tickets").credits) == (2, 6)
    assert meter.total_credits == 9
    caplog.set_level(logging.INFO)
    meter.log_summary(logging.getLogger("test"))
    assert "used by this sync: 9; 894 credits left today" in caplog.text


def test_budget_refuses_the_call_that_would_burst_it_counting_calls_in_flight():
    meter = CreditMeter(budget=9)
    meter.record("tickets", _response(3, 100))
    with meter.reservation("tickets", 100):  # 3 spent + 3 in flight
        with pytest.raises(CreditBudgetExhausted) as caught:
            with meter.reservation("tickets", 200), meter.reservation("tickets", 300):
                pass
    assert "credit_budget (9 credits)" in caught.value.message
    with meter.reservation("tickets", 400):  # the in-flight reservations were released
        pass
