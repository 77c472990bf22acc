"""Bad stack config fails before any resource is declared, naming the key and what is allowed."""

from typing import Any

import pytest

from infra.loader import ConfigError
from infra.mockrun import MockedResource, run_program, stack_file_config
from tests.conftest import KNOWN_SECRETS

BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, overrides, key named in the message, what the message says is allowed or wrong)
    ("unknown platform", {"platform": "nomad"}, "perfstack:platform", "'docker' or 'kubernetes'"),
    ("missing platform", {"platform": None}, "perfstack:platform", "required"),
    ("kill switch as a string", {"killSwitch": "yes"}, "perfstack:killSwitch", "valid boolean"),
    (
        "unknown top-level key",
        {"redsi": {"maxmemory": "1mb"}},
        "perfstack:redsi",
        "allowed here: alertmanager",
    ),
    (
        "unknown nested key",
        {"redis.maxmemroy": "1mb"},
        "perfstack:redis.maxmemroy",
        "allowed here: appendfsync",
    ),
    (
        "unknown key inside a service",
        {"services.api.stable.replcas": 2},
        "perfstack:services.api.stable.replcas",
        "allowed here: env, replicas, resources, version",
    ),
    ("malformed memory size", {"redis.maxmemory": "lots"}, "perfstack:redis.maxmemory", "kb, mb or gb"),
    ("zero memory size", {"redis.maxmemory": "0mb"}, "perfstack:redis.maxmemory", "positive number"),
    (
        "explicit container limit without room for a fork",
        {"redis.resources": {"memoryLimit": "1Gi"}},
        "perfstack:redis.resources.memoryLimit",
        "must be at least 2.5 x maxmemory (1280Mi)",
    ),
    (
        "maxmemory above an explicit container limit without persistence",
        {
            "redis.maxmemory": "512mb",
            "redis.appendonly": False,
            "redis.mode": "standalone",
            "redis.replicas": 1,
            "redis.resources": {"memoryLimit": "512Mi"},
        },
        "perfstack:redis.resources.memoryLimit",
        "must be larger than maxmemory",
    ),
    (
        "AOF and RDB snapshots together",
        {"redis.rdbSnapshots": True},
        "perfstack:redis.rdbSnapshots",
        "choose it or appendonly, not both",
    ),
    (
        "replicas in standalone mode",
        {"redis.mode": "standalone", "redis.replicas": 3},
        "perfstack:redis.replicas",
        "mode: sentinel",
    ),
    (
        "unknown eviction policy",
        {"redis.maxmemoryPolicy": "lru"},
        "perfstack:redis.maxmemoryPolicy",
        "allkeys-lru",
    ),
    ("unknown fsync mode", {"redis.appendfsync": "sometimes"}, "perfstack:redis.appendfsync", "'everysec'"),
    ("port out of range", {"redis.port": 70000}, "perfstack:redis.port", "less than or equal to 65535"),
    (
        "float where an integer goes",
        {"redis.maxmemorySamples": 5.5},
        "perfstack:redis.maxmemorySamples",
        "integer",
    ),
    (
        "malformed memory quantity",
        {"redis.resources.memoryLimit": "1 GB"},
        "perfstack:redis.resources.memoryLimit",
        "Mi",
    ),
    (
        "malformed cpu quantity",
        {"redis.resources.cpuLimit": "two"},
        "perfstack:redis.resources.cpuLimit",
        "millicores",
    ),
    ("latest image tag", {"redis.version": "latest"}, "perfstack:redis.version", "pin a tag"),
    (
        "malformed retention",
        {"prometheus.retention": "15 days"},
        "perfstack:prometheus.retention",
        "not a Prometheus duration",
    ),
    (
        "namespace not a DNS label",
        {"kubernetes.namespace": "Perf_Stack"},
        "perfstack:kubernetes.namespace",
        "pattern",
    ),
    ("no services", {"services": {}}, "perfstack:services", "at least one service"),
    (
        "canary weight above 100",
        {"services.api.canary.weight": 101},
        "perfstack:services.api.canary.weight",
        "100",
    ),
    ("services as a list", {"services": ["api"]}, "perfstack:services", "dictionary"),
    (
        "zero scrape interval",
        {"prometheus.scrapeInterval": "0s"},
        "perfstack:prometheus.scrapeInterval",
        "longer than zero",
    ),
    (
        "malformed evaluation interval",
        {"prometheus.evaluationInterval": "1 minute"},
        "perfstack:prometheus.evaluationInterval",
        "not a Prometheus duration",
    ),
    (
        "rate window shorter than 4 scrapes",
        {"prometheus.scrapeInterval": "30s", "alerts.rateWindow": "1m"},
        "perfstack:alerts.rateWindow",
        "at least 4 scrapes of prometheus.scrapeInterval (30s): 120s or longer",
    ),
    (
        "rollout steps not ending at 100",
        {"services.api.rollout": {"steps": [{"weight": 10, "soak": "5m"}, {"weight": 50, "soak": "5m"}]}},
        "perfstack:services.api.rollout.steps",
        "the last step must have weight 100",
    ),
    (
        "rollout steps not rising",
        {
            "services.api.rollout": {
                "steps": [
                    {"weight": 50, "soak": "5m"},
                    {"weight": 10, "soak": "5m"},
                    {"weight": 100, "soak": "5m"},
                ]
            }
        },
        "perfstack:services.api.rollout.steps",
        "weights must rise step by step",
    ),
    (
        "rollout soak shorter than the interval",
        {"services.api.rollout": {"interval": "10m"}},
        "perfstack:services.api.rollout.steps",
        "the soak of step 1 (5m) is shorter than interval 10m",
    ),
    (
        "rollout interval shorter than 4 scrapes",
        {"prometheus.scrapeInterval": "30s", "services.api.rollout.interval": "1m"},
        "perfstack:services.api.rollout.interval",
        "at least 4 scrapes of prometheus.scrapeInterval (30s): 120s or longer",
    ),
    (
        "rollout step weight of 0",
        {"services.api.rollout": {"steps": [{"weight": 0, "soak": "5m"}, {"weight": 100, "soak": "5m"}]}},
        "perfstack:services.api.rollout.steps.0.weight",
        "greater than or equal to 1",
    ),
    (
        "rollout minRequests of 0",
        {"services.api.rollout.minRequests": 0},
        "perfstack:services.api.rollout.minRequests",
        "greater than or equal to 1",
    ),
    (
        "freeze window with a bad time of day",
        {"services.api.rollout.freeze": [{"days": ["fri"], "start": "15h", "end": "24:00"}]},
        "perfstack:services.api.rollout.freeze.0.start",
        "not a time of day in UTC",
    ),
    (
        "freeze window ending before it starts",
        {"services.api.rollout.freeze": [{"start": "18:00", "end": "09:00"}]},
        "perfstack:services.api.rollout.freeze.0.end",
        "is not after start",
    ),
    (
        "freeze window of both kinds",
        {
            "services.api.rollout.freeze": [
                {"start": "18:00", "end": "20:00", "since": "2026-12-24T00:00:00Z"}
            ]
        },
        "perfstack:services.api.rollout.freeze.0.start",
        "give either `start` and `end`",
    ),
    (
        "one-off freeze window without a zone",
        {"services.api.rollout.freeze": [{"since": "2026-12-24T00:00:00", "until": "2026-12-27T00:00:00Z"}]},
        "perfstack:services.api.rollout.freeze.0.since",
        "RFC 3339 time with a zone",
    ),
    (
        "freeze window on an unknown day",
        {"services.api.rollout.freeze": [{"days": ["friday"], "start": "15:00", "end": "24:00"}]},
        "perfstack:services.api.rollout.freeze.0.days.0",
        "'mon', 'tue'",
    ),
    (
        "rollout of a flag the service does not have",
        {"services.api.rollout.flag": "darkMode"},
        "perfstack:services.api.rollout.flag",
        "'darkMode' is not a flag of this service (features: apiCaching",
    ),
    (
        "rollout of a flag on a service without a canary",
        {"services.api.canary": None, "services.api.rollout.flag": "apiCaching"},
        "perfstack:services.api.rollout.flag",
        "rolls out on the canary track, and this service has none",
    ),
    (
        "comparison confidence of 1",
        {"services.api.rollout.checks.compare.confidence": 1},
        "perfstack:services.api.rollout.checks.compare.confidence",
        "less than 1",
    ),
    (
        "SLO latency threshold between two histogram buckets",
        {"services.api.slo.latency.thresholdMs": 1600.0},
        "perfstack:services.api.slo.latency.thresholdMs",
        "not a bucket bound of the latency histogram (bucketBoundsMs); use one of 50, 100, 150",
    ),
    (
        "SLO objective of 1",
        {"services.api.slo.availability.objective": 1.0},
        "perfstack:services.api.slo.availability.objective",
        "less than 1",
    ),
    (
        "SLO without an objective",
        {"services.api.slo": {"availability": None, "latency": None}},
        "perfstack:services.api.slo",
        "sets neither availability nor latency",
    ),
    (
        "SLO window longer than Prometheus keeps samples",
        {"services.api.slo": {"window": "30d"}, "prometheus.retention": "15d"},
        "perfstack:services.api.slo.window",
        "longer than prometheus.retention (15d)",
    ),
    (
        "SLO burn-rate alert whose short window is not shorter",
        {
            "services.api.slo.burnRateAlerts": [
                {"longWindow": "1h", "shortWindow": "1h", "burnRate": 14.4, "severity": "page"}
            ]
        },
        "perfstack:services.api.slo.burnRateAlerts.0.shortWindow",
        "must be shorter than longWindow (1h)",
    ),
    (
        "SLO burn-rate window longer than the SLO's window",
        {"services.api.slo.window": "1d"},
        "perfstack:services.api.slo.burnRateAlerts.3.longWindow",
        "must not be longer than the SLO's window (1d)",
    ),
    (
        "SLO burn rate that needs more than every request to fail",
        {"services.api.slo.latency.objective": 0.9},
        "perfstack:services.api.slo.burnRateAlerts.0.burnRate",
        "could never fire",
    ),
    (
        "SLO short window under 4 scrapes",
        {
            "services.api.slo.burnRateAlerts": [
                {"longWindow": "1h", "shortWindow": "30s", "burnRate": 14.4, "severity": "page"}
            ]
        },
        "perfstack:services.api.slo.burnRateAlerts.0.shortWindow",
        "must span at least 4 scrapes",
    ),
    (
        "SLO alert of an unknown severity",
        {
            "services.api.slo.burnRateAlerts": [
                {"longWindow": "1h", "shortWindow": "5m", "burnRate": 14.4, "severity": "sms"}
            ]
        },
        "perfstack:services.api.slo.burnRateAlerts.0.severity",
        "'page' or 'ticket'",
    ),
    (
        "rollout error budget floor above 1",
        {"services.api.rollout.minErrorBudget": 1.5},
        "perfstack:services.api.rollout.minErrorBudget",
        "less than or equal to 1",
    ),
    (
        "Redis volume too small for its maxmemory's files",
        {"redis.maxmemory": "1gb"},
        "perfstack:redis.storageSize",
        "2Gi cannot hold the files of 1gb of data: with persistence on it needs at least 3.5 x maxmemory",
    ),
    (
        "Docker UI address that is not an IP address",
        {"docker.uiAddress": "localhost"},
        "perfstack:docker.uiAddress",
        "'localhost' is not an IP address",
    ),
    (
        "Docker subnet larger than a /16",
        {"docker.subnet": "10.0.0.0/8"},
        "perfstack:docker.subnet",
        "'10.0.0.0/8' is a /8: use a /16 to /24",
    ),
    (
        "Docker subnet with host bits",
        {"docker.subnet": "172.16.208.1/20"},
        "perfstack:docker.subnet",
        "is not an IPv4 network such as '172.16.208.0/20'",
    ),
    (
        "Docker subnet that is IPv6",
        {"docker.subnet": "fd00::/64"},
        "perfstack:docker.subnet",
        "'fd00::/64' is not an IPv4 network",
    ),
    (
        "PagerDuty URL not http(s)",
        {"notifications.pagerduty": {"url": "events.pagerduty.com/v2/enqueue"}},
        "perfstack:notifications.pagerduty.url",
        "not an http(s) URL",
    ),
    (
        "registry server given as a URL",
        {"registry": {"server": "https://registry.example.internal/v2", "username": "pull"}},
        "perfstack:registry.server",
        "a host name with an optional port",
    ),
    (
        "registry user name with a colon",
        {"registry": {"server": "registry.example.internal:5000", "username": "pull:er"}},
        "perfstack:registry.username",
        "without ':'",
    ),
    (
        "registry without a user name",
        {"registry": {"server": "registry.example.internal"}},
        "perfstack:registry.username",
        "required",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
@pytest.mark.parametrize("stack", ["staging", "production"])
def test_bad_config_names_the_key_and_declares_nothing(
    stack: str, overrides: dict[str, Any], key: str, allowed: str
) -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program(stack, overrides=overrides, secrets=KNOWN_SECRETS, declared=declared)
    lines = [p for p in error.value.problems if p.startswith(f"{key}:")]
    assert lines, error.value.problems
    assert any(allowed in line for line in lines), lines
    assert declared == []


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        run_program("staging", overrides={"redis.maxmemory": "lots", "redis.port": 0}, secrets=KNOWN_SECRETS)
    keys = {p.split(":", 2)[1] for p in error.value.problems}
    assert {"redis.maxmemory", "redis.port"} <= {k.split(":")[0] for k in keys} | keys


@pytest.mark.parametrize("secret", ["redisPassword", "grafanaAdminPassword", "deadMansSwitchUrl"])
def test_missing_secret_says_how_to_set_it(secret: str) -> None:
    given = {k: v for k, v in KNOWN_SECRETS.items() if k != secret}
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program("production", secrets=given, placeholder_secrets=False, declared=declared)
    assert f"pulumi config set --secret perfstack:{secret} <value> --stack production" in str(error.value)
    assert declared == []


def test_a_registry_without_its_password_says_how_to_set_it() -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program(
            "production",
            overrides={"registry": {"server": "registry.example.internal:5000", "username": "pull"}},
            secrets=KNOWN_SECRETS,
            placeholder_secrets=False,
            declared=declared,
        )
    assert "pulumi config set --secret perfstack:registryPassword <value> --stack production" in str(
        error.value
    )
    assert declared == []


def test_secret_stored_in_plaintext_is_rejected() -> None:
    given = {k: v for k, v in KNOWN_SECRETS.items() if k != "redisPassword"}
    with pytest.raises(ConfigError, match="perfstack:redisPassword: stored in plaintext"):
        run_program(
            "staging",
            overrides={"redisPassword": "plain-text-password"},
            secrets=given,
            placeholder_secrets=False,
        )


def test_error_message_does_not_echo_secret_values() -> None:
    with pytest.raises(ConfigError) as error:
        run_program(
            "staging", overrides={"redisPassword": KNOWN_SECRETS["redisPassword"]}, placeholder_secrets=False
        )
    assert KNOWN_SECRETS["redisPassword"] not in str(error.value)


def test_sentinel_mode_on_docker_names_the_key() -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program(
            "staging",
            overrides={"redis.mode": "sentinel", "redis.replicas": 3},
            secrets=KNOWN_SECRETS,
            declared=declared,
        )
    assert any(
        p.startswith("perfstack:redis.mode: sentinel needs platform kubernetes") for p in error.value.problems
    )
    assert declared == []


def test_also_accepted_redis_password_equal_to_the_password_names_the_key() -> None:
    same = {**KNOWN_SECRETS, "redisPasswordAlsoAccepted": KNOWN_SECRETS["redisPassword"]}
    with pytest.raises(ConfigError) as error:
        run_program("production", secrets=same)
    assert any(p.startswith("perfstack:redisPasswordAlsoAccepted: must differ") for p in error.value.problems)
    assert KNOWN_SECRETS["redisPassword"] not in str(error.value)


def test_production_without_a_dead_mans_switch_is_refused_naming_the_key() -> None:
    declared: list[MockedResource] = []
    with pytest.raises(ConfigError) as error:
        run_program(
            "production",
            overrides={"notifications.deadMansSwitch": None},
            secrets=KNOWN_SECRETS,
            declared=declared,
        )
    assert any(
        p.startswith("perfstack:notifications.deadMansSwitch: is required when environment is production")
        for p in error.value.problems
    ), error.value.problems
    assert declared == []


def test_a_stack_that_does_not_name_its_environment_is_held_to_production_rules() -> None:
    with pytest.raises(ConfigError) as error:
        run_program("staging", overrides={"environment": None}, secrets=KNOWN_SECRETS)
    problems = error.value.problems
    assert any(p.startswith("perfstack:notifications.deadMansSwitch: is required") for p in problems)


@pytest.mark.parametrize("stack", ["staging", "dev"])
def test_staging_and_dev_may_run_without_a_dead_mans_switch(stack: str) -> None:
    assert "deadMansSwitch" not in stack_file_config(stack).get("notifications", {})
    run_program(stack, secrets=KNOWN_SECRETS)
