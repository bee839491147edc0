"""The gateway's metrics as a scraper reads them: counted per answer, exposed per scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sutazai.stack.gateway.stats import GatewayStats


def _samples(stats: GatewayStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = stats.prometheus().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_answers_are_exposed_as_prometheus_counters_and_a_cumulative_histogram() -> None:
    stats = GatewayStats()
    stats.record("openai", "fast", "a", 200, 0.003, prompt_tokens=5, completion_tokens=2)
    stats.record("openai", "fast", "b", 200, 0.2, prompt_tokens=7, completion_tokens=3, cached_tokens=4)
    stats.record("ollama", "?", "c", 400, 0.0005)
    samples = _samples(stats)

    def one(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert one("sutazai_requests_total", api="openai", model="fast", status="200") == 2
    assert one("sutazai_requests_total", api="ollama", model="?", status="400") == 1
    assert one("sutazai_tokens_total", model="fast", kind="prompt") == 12
    assert one("sutazai_tokens_total", model="fast", kind="completion") == 5
    assert one("sutazai_tokens_total", model="fast", kind="cached") == 4
    assert ("sutazai_tokens_total", (("kind", "prompt"), ("model", "?"))) not in samples  # no tokens, no row
    assert one("sutazai_request_seconds_bucket", model="fast", le="0.001") == 0
    assert one("sutazai_request_seconds_bucket", model="fast", le="0.005") == 1
    assert one("sutazai_request_seconds_bucket", model="fast", le="0.5") == 2  # cumulative
    assert one("sutazai_request_seconds_bucket", model="fast", le="+Inf") == 2
    assert one("sutazai_request_seconds_count", model="fast") == 2
    assert abs(one("sutazai_request_seconds_sum", model="fast") - 0.203) < 1e-9
    assert one("sutazai_request_seconds_bucket", model="?", le="0.001") == 1
    assert stats.cached_prompt_tokens == 4 and stats.by_priority == {
        "interactive": 0,
        "normal": 0,
        "batch": 0,
    }
