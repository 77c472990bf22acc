"""The catalog's thresholds and channels are the source guides': each case quotes the guide it comes from.

The quote is checked against the seed file (so it cannot drift from what the
guide says), then the catalog entry against the quote. Where a guide names no
duration or channel (P50, mean) the case states perfstack's choice instead.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from components.platform.telemetry import CHAT, INFORM, PAGE, Channel, Severity, num
from components.prometheus.alerts import AlertsConfig, alert_catalog

from .alert_scenarios import DEPLOYMENT

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
DEPLOYMENT_GUIDE = "000_44c683d9d4181172.txt"
ROLLOUT_GUIDE = "001_607114dfb78e34cf.txt"
MONITORING_GUIDE = "002_6eb63770e8deaa30.txt"
CFG = AlertsConfig()
CATALOG = {spec.name: spec for spec in alert_catalog(CFG, DEPLOYMENT)}


@dataclass(frozen=True)
class SeedCase:
    alert: str
    seed: str
    quote: str
    """Consecutive lines of the seed, exactly."""
    threshold: float
    """The catalog value the quote gives, as the rule compares it (seconds, ratios)."""
    setting: float
    """The AlertsConfig default that holds it."""
    for_: str
    severity: Severity
    notify: tuple[Channel, ...]


CASES = [
    SeedCase(
        "P95LatencyCritical", MONITORING_GUIDE,
        "condition: p95_latency > 2500ms for 5 minutes\n"
        "severity: critical\nchannels: [slack, email, pagerduty]",
        2.5, CFG.p95_critical_ms / 1000, "5m", Severity.CRITICAL, PAGE,
    ),
    SeedCase(
        "P95LatencyWarning", MONITORING_GUIDE,
        "condition: p95_latency > 2000ms for 10 minutes\nseverity: warning\nchannels: [slack]",
        2.0, CFG.p95_warning_ms / 1000, "10m", Severity.WARNING, CHAT,
    ),
    SeedCase(
        "ErrorRateCritical", MONITORING_GUIDE,
        "condition: error_rate > 5% for 5 minutes\nseverity: critical\nchannels: [slack, email, pagerduty]",
        0.05, CFG.error_rate_critical, "5m", Severity.CRITICAL, PAGE,
    ),
    SeedCase(
        "ErrorRateWarning", ROLLOUT_GUIDE,
        "  warning:\n    - error_rate > 2%",
        0.02, CFG.error_rate_warning, "5m", Severity.WARNING, CHAT,
    ),
    SeedCase(
        "QualityScoreCritical", MONITORING_GUIDE,
        "condition: quality_score < 75% for 10 minutes\nseverity: critical\nchannels: [slack, email]",
        0.75, CFG.quality_critical, "10m", Severity.CRITICAL, INFORM,
    ),
    SeedCase(
        "QualityScoreWarning", MONITORING_GUIDE,
        "- Overall Quality > 80% (Alert: <78%)",
        0.78, CFG.quality_warning, "10m", Severity.WARNING, CHAT,
    ),
    SeedCase(
        "CacheHitRateLow", MONITORING_GUIDE,
        "condition: cache_hit_rate < 20% for 15 minutes\nseverity: warning\nchannels: [slack]",
        0.2, CFG.cache_hit_rate_low, "15m", Severity.WARNING, CHAT,
    ),
    # The guide gives the threshold only; warning in chat after 10m is perfstack's choice (as P95 warning).
    SeedCase(
        "P50LatencyWarning", MONITORING_GUIDE,
        "- P50 < 1000ms (Alert: >1500ms)",
        1.5, CFG.p50_warning_ms / 1000, "10m", Severity.WARNING, CHAT,
    ),
    SeedCase(
        "MeanLatencyWarning", MONITORING_GUIDE,
        "- Mean < 1100ms (Alert: >1600ms)",
        1.6, CFG.mean_latency_warning_ms / 1000, "10m", Severity.WARNING, CHAT,
    ),
    # The deployment guide's form, chosen over the monitoring guide's daily 110 % (see tokenIncreaseFactor).
    SeedCase(
        "TokenUsageHigh", DEPLOYMENT_GUIDE,
        '      condition: "token_usage > baseline * 1.15"\n      duration: "15m"\n      channels: ["slack"]',
        1.15, CFG.token_increase_factor, "15m", Severity.WARNING, CHAT,
    ),
    SeedCase(
        "ApplicationDown", ROLLOUT_GUIDE,
        "      condition: up == 0\n      severity: critical\n      duration: 1m",
        0, 0, "1m", Severity.CRITICAL, PAGE,
    ),
]  # fmt: skip


def seed_text(name: str) -> str:
    path = SEEDS / name
    if not path.is_file():
        pytest.skip(f"the source guides are not beside this checkout ({SEEDS})")
    return path.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.alert for c in CASES])
def test_alert_follows_the_guide_it_quotes(case: SeedCase) -> None:
    assert case.quote in seed_text(case.seed)
    spec = CATALOG[case.alert]
    assert case.setting == pytest.approx(case.threshold)
    assert f" {num(case.threshold)}" in spec.expr
    assert (spec.for_, spec.severity, spec.notify) == (case.for_, case.severity, case.notify)


def test_token_baseline_is_the_deployment_guides() -> None:
    quote = (
        '      - name: "Token Usage"\n'
        '        query: "avg(input_tokens + output_tokens)"\n'
        "        threshold: 67"
    )
    assert quote in seed_text(DEPLOYMENT_GUIDE)
    assert CFG.token_baseline_per_request == 67
    assert (
        f"{num(CFG.token_baseline_per_request)} * {num(CFG.token_increase_factor)}"
        in CATALOG["TokenUsageHigh"].expr
    )
