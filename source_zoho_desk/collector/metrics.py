"""Prometheus metrics of the collector, on a registry of its own so several apps can live in one process."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from source_zoho_desk.collector.queue import PartitionStats


class SourceCounters:
    """One data source's ingest counters, resolved once: `labels()` per event cost as much as storing it."""

    def __init__(self, metrics: Metrics, source_id: str) -> None:
        self.source_id = source_id
        self.received = metrics.received.labels(source_id)
        self.duplicates = metrics.duplicates.labels(source_id)
        self.unknown = metrics.unknown.labels(source_id)
        self._stored_family = metrics.stored
        self._stored: dict[str, Any] = {}

    def stored(self, partition: str) -> Any:
        child = self._stored.get(partition)
        if child is None:  # partitions are a fixed set (events.ALL_PARTITIONS), so this stays small
            child = self._stored[partition] = self._stored_family.labels(self.source_id, partition)
        return child


class Metrics:
    def __init__(self) -> None:
        self._by_source: dict[str, SourceCounters] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "zoho_collector_events_received", "Events in webhook bodies that reached validation", ["source"], registry=r
        )
        self.stored = Counter(
            "zoho_collector_events_stored", "Events durably stored", ["source", "partition"], registry=r
        )
        self.duplicates = Counter(
            "zoho_collector_events_duplicate", "Redelivered events recognised and stored once", ["source"], registry=r
        )
        self.unknown = Counter(
            "zoho_collector_events_unknown_type", "Stored events of an unknown eventType", ["source"], registry=r
        )
        # source is "" when the request never got as far as a known data source (e.g. unknown token)
        self.rejected = Counter(
            "zoho_collector_requests_rejected", "Rejected webhook requests by reason", ["source", "reason"], registry=r
        )
        self.ingest_seconds = Histogram(
            "zoho_collector_ingest_seconds",
            "Time from request start to the 200 of a webhook POST",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.depth = Gauge(
            "zoho_collector_queue_depth", "Unacknowledged events", ["source", "partition"], registry=r
        )
        self.oldest_age = Gauge(
            "zoho_collector_queue_oldest_unacked_age_seconds",
            "Age of the oldest unacknowledged event",
            ["source", "partition"],
            registry=r,
        )
        self.head = Gauge(
            "zoho_collector_queue_head_seq", "Highest sequence number", ["source", "partition"], registry=r
        )

    def for_source(self, source_id: str) -> SourceCounters:
        counters = self._by_source.get(source_id)
        if counters is None:
            counters = self._by_source[source_id] = SourceCounters(self, source_id)
        return counters

    def render(self, stats: list[PartitionStats]) -> bytes:
        # Gauges are rebuilt from the queue at scrape time, so they are right even after a restart or
        # an acknowledgement made by another replica.
        now_ms = time.time() * 1000
        for gauge in (self.depth, self.oldest_age, self.head):
            gauge.clear()
        for s in stats:
            self.depth.labels(s.source_id, s.partition).set(s.depth)
            age = 0.0 if s.oldest_received_at_ms is None else max(0.0, (now_ms - s.oldest_received_at_ms) / 1000)
            self.oldest_age.labels(s.source_id, s.partition).set(age)
            self.head.labels(s.source_id, s.partition).set(s.head_seq)
        return generate_latest(self.registry)
