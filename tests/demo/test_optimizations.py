"""Each optimisation's visible effect in the metrics; the baseline the alert catalog assumes."""

import random
import statistics

from perfstack_demo.flags import Optimization, rollout_bucket
from perfstack_demo.loadgen import POPULAR_PROMPTS
from perfstack_demo.model import SimulatedModel
from starlette.testclient import TestClient

from tests.demo.helpers import FAST, RedisServer, chat, make_app, sample, service_env

PROMPTS = [f"Question number {i} about caching" for i in range(6)]


def _tokens(client: TestClient, direction: str, track: str = "stable") -> float:
    return sample(client, "llm_tokens_total", direction=direction, track=track)


def _tokens_for(env: dict[str, str], intent: str = "simple") -> tuple[float, float]:
    """(input, output) tokens counted for the PROMPTS asked once each."""
    with TestClient(make_app(service_env(**env))) as client:
        for prompt in PROMPTS:
            chat(client, prompt, intent=intent)
        return _tokens(client, "input"), _tokens(client, "output")


def _on(optimization: Optimization) -> dict[str, str]:
    return {f"FEATURE_{optimization.value}": "true", f"FF_{optimization.value}": "100"}


def test_baseline_is_about_67_tokens_per_request() -> None:
    # The loadgen's popular prompts are the typical request the alert catalog's baseline describes.
    with TestClient(make_app(service_env())) as client:
        for prompt in POPULAR_PROMPTS:
            chat(client, prompt)
        total = _tokens(client, "input") + _tokens(client, "output")
    assert 62 <= total / len(POPULAR_PROMPTS) <= 72


def test_baseline_latency_and_quality_are_healthy() -> None:
    model = SimulatedModel(random.Random(1))
    completions = [model.complete(p, "complex", frozenset()) for p in POPULAR_PROMPTS * 100]
    latencies = sorted(c.latency_seconds for c in completions)
    assert latencies[int(len(latencies) * 0.95)] < 0.3  # p95, far below the 1.5 s dashboard threshold
    assert 0.85 <= statistics.mean(c.quality for c in completions) <= 0.9
    assert all(0.84 <= c.quality <= 0.91 for c in completions)


def test_prompt_optimization_sends_fewer_input_tokens() -> None:
    base_in, base_out = _tokens_for({})
    opt_in, opt_out = _tokens_for(_on(Optimization.PROMPT_OPTIMIZATION))
    assert opt_in == base_in - 10 * len(PROMPTS)
    assert opt_out == base_out


def test_context_pruning_sends_fewer_input_tokens() -> None:
    base_in, base_out = _tokens_for({})
    opt_in, opt_out = _tokens_for(_on(Optimization.CONTEXT_PRUNING))
    assert opt_in == base_in - 8 * len(PROMPTS)
    assert opt_out == base_out


def test_model_selection_gets_fewer_output_tokens_on_simple_intents_only() -> None:
    base_in, base_out = _tokens_for({})
    opt_in, opt_out = _tokens_for(_on(Optimization.MODEL_SELECTION))
    assert opt_in == base_in
    assert opt_out < base_out * 0.75
    complex_tokens = _tokens_for(_on(Optimization.MODEL_SELECTION), intent="complex")
    assert complex_tokens == _tokens_for({}, intent="complex")


def test_model_selection_lowers_latency_on_simple_intents() -> None:
    def duration_sum(env: dict[str, str]) -> float:
        with TestClient(make_app(service_env(**env, DEMO_LATENCY_SCALE="1"))) as client:
            for prompt in PROMPTS[:3]:
                chat(client, prompt, intent="simple")
            return sample(client, "http_request_duration_seconds_sum", track="stable", route="/chat")

    # The fast model takes 40-80 ms, the standard one 160-260 ms: disjoint ranges, so this never flakes.
    assert duration_sum(_on(Optimization.MODEL_SELECTION)) < 0.3 < 0.48 <= duration_sum({})


def test_all_optimisations_together_cut_tokens_noticeably() -> None:
    uncached = [opt for opt in Optimization if opt is not Optimization.RESPONSE_CACHING]
    everything = {k: v for opt in uncached for k, v in _on(opt).items()}
    base = sum(_tokens_for({}))
    optimised = sum(_tokens_for(everything))
    assert optimised < base * 0.7


def test_disable_all_optimizations_restores_the_baseline() -> None:
    everything = {k: v for opt in Optimization for k, v in _on(opt).items()}
    assert _tokens_for(everything | {"DISABLE_ALL_OPTIMIZATIONS": "true"}) == _tokens_for({})


def test_a_rollout_applies_per_user() -> None:
    env = {"FEATURE_PROMPT_OPTIMIZATION": "true", "FF_PROMPT_OPTIMIZATION": "50"}
    users = [f"user-{i}" for i in range(40)]
    inside = next(u for u in users if rollout_bucket("PROMPT_OPTIMIZATION", u) < 50)
    outside = next(u for u in users if rollout_bucket("PROMPT_OPTIMIZATION", u) >= 50)
    with TestClient(make_app(service_env(**env))) as client:
        optimised = chat(client, PROMPTS[0], user=inside)
        plain = chat(client, PROMPTS[0], user=outside)
        again = chat(client, PROMPTS[0], user=inside)
    assert optimised["usage"]["input_tokens"] == plain["usage"]["input_tokens"] - 10
    assert again["usage"] == optimised["usage"]
    assert optimised["optimizations"] == ["PROMPT_OPTIMIZATION"]
    assert plain["optimizations"] == []


def test_response_caching_hits_on_a_repeated_prompt_and_a_hit_costs_no_tokens(
    redis_env: dict[str, str],
) -> None:
    with TestClient(make_app(service_env(**redis_env, **_on(Optimization.RESPONSE_CACHING)))) as client:
        first = chat(client, "What is a canary release?", user="a")
        tokens_after_first = _tokens(client, "input") + _tokens(client, "output")
        # The same question, spelt differently, from another user.
        second = chat(client, "what is  a CANARY release?", user="b")
        assert sample(client, "cache_requests_total", result="miss") == 1
        assert sample(client, "cache_requests_total", result="hit") == 1
        assert _tokens(client, "input") + _tokens(client, "output") == tokens_after_first
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["answer"] == first["answer"]
    assert second["usage"]["total_tokens"] == 0


def test_the_cache_is_per_intent(redis_env: dict[str, str]) -> None:
    with TestClient(make_app(service_env(**redis_env, **_on(Optimization.RESPONSE_CACHING)))) as client:
        chat(client, "Explain the cache policy", intent="simple")
        assert chat(client, "Explain the cache policy", intent="complex")["cached"] is False


def test_without_response_caching_the_cache_is_not_used(
    redis_env: dict[str, str], redis_server: RedisServer
) -> None:
    with TestClient(make_app(service_env(**redis_env))) as client:
        for _ in range(3):
            assert chat(client, "What is a canary release?")["cached"] is False
        assert sample(client, "cache_requests_total", result="hit") == 0
        assert sample(client, "cache_requests_total", result="miss") == 0
    assert not list(redis_server.client().scan_iter("perfstack-demo:cache:*"))


def test_a_cache_outage_counts_misses_and_still_answers() -> None:
    closed = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "1"}
    with TestClient(make_app(service_env(**closed, **_on(Optimization.RESPONSE_CACHING)))) as client:
        for _ in range(2):
            assert chat(client, "What is a canary release?")["cached"] is False
        assert sample(client, "cache_requests_total", result="miss") == 2
        assert sample(client, "cache_requests_total", result="hit") == 0


def test_cached_answers_are_per_version(redis_env: dict[str, str]) -> None:
    common = {**redis_env, **_on(Optimization.RESPONSE_CACHING), **FAST, "OTEL_SERVICE_NAME": "versions"}
    with TestClient(make_app(common | {"APP_VERSION": "1.4.2"})) as stable:
        chat(stable, "Define latency budget")
    with TestClient(make_app(common | {"APP_VERSION": "1.5.0", "APP_TRACK": "canary"})) as canary:
        assert chat(canary, "Define latency budget")["cached"] is False
        assert chat(canary, "Define latency budget")["cached"] is True
