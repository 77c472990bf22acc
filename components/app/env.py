"""The plain (non-secret) environment of an app service's containers.

Contract with the app (names from the source runbooks):

- ``FEATURE_<FLAG>=true|false``, the same value as ``ENABLE_<FLAG>`` (the
  family the source runbooks switch the app with), and ``FF_<FLAG>=<0..100>``
  for every configured flag, resolved for the track (a flag's ``canary``
  override applies to the canary only); ``FF_`` is the rollout percent, 0 when
  the flag is off;
- ``DISABLE_ALL_OPTIMIZATIONS=true|false``;
- where Redis is (``redis_env``, from the Redis component: ``REDIS_HOST`` and
  ``REDIS_PORT`` for a standalone server; ``REDIS_SENTINELS`` and
  ``REDIS_MASTER_NAME`` only, in sentinel mode, so that a client that does not
  speak Sentinel fails at start instead of writing to a replica) and
  ``REDIS_PASSWORD_FILE``, the path of a file mounted from a secret: the
  password itself is never in the env;
- the standard OpenTelemetry SDK env: ``OTEL_EXPORTER_OTLP_ENDPOINT`` with
  ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` (SDKs that default to http/protobuf
  could not export to the gRPC port otherwise), ``OTEL_SERVICE_NAME=<service>``,
  ``OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=<env>,service.version=<version>,perfstack.track=<track>``,
  and ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with
  ``OTEL_TRACES_SAMPLER_ARG=<probability>``: every OpenTelemetry SDK reads
  these, while Jaeger's remote sampler is not in all of them (not in Python's);
- ``APP_VERSION``, ``APP_TRACK``;
- then the service's ``env``, then the track's ``env`` (the track wins). The
  config validator refuses user env that would override any name above.

Under the kill switch every ``FEATURE_*`` is false, every ``FF_*`` is 0 and
``DISABLE_ALL_OPTIMIZATIONS`` is true, whatever the flags say.
"""

from collections.abc import Mapping
from urllib.parse import quote

from components.app.settings import ServiceConfig, Track, upper_snake

REDIS_PASSWORD_FILE_ENV = "REDIS_PASSWORD_FILE"
"""Env name of the path where the app reads the Redis password (a file mounted from a secret)."""


def _resource_attribute(value: str) -> str:
    # OTEL_RESOURCE_ATTRIBUTES is a comma-separated key=value list whose values
    # are percent-encoded (W3C Baggage octets), so ',', '=', spaces etc. in a
    # value must not be written raw.
    return quote(value, safe="")


def track_env(
    *,
    service_name: str,
    service: ServiceConfig,
    track: Track,
    kill_switch: bool,
    environment: str,
    redis_env: Mapping[str, str],
    redis_password_file: str,
    otlp_endpoint: str,
    trace_sampling: float,
) -> dict[str, str]:
    """The plain env of `service`'s `track` containers, keys sorted so diffs stay stable.

    Raises ValueError for the canary track of a service without a canary.
    """
    track_config = service.track(track)
    env: dict[str, str] = {}
    for name, flag in service.features.items():
        resolved = flag.for_track(track)
        suffix = upper_snake(name)
        enabled = "false" if kill_switch else str(resolved.enabled).lower()
        env[f"FEATURE_{suffix}"] = enabled
        env[f"ENABLE_{suffix}"] = enabled
        env[f"FF_{suffix}"] = "0" if kill_switch else str(resolved.rollout)
    env["DISABLE_ALL_OPTIMIZATIONS"] = str(kill_switch).lower()
    env.update(redis_env)
    env[REDIS_PASSWORD_FILE_ENV] = redis_password_file
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_endpoint
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
    # Parent-based: a request that arrives with a sampled trace context stays in
    # that trace; new traces are kept with the configured probability.
    env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    env["OTEL_TRACES_SAMPLER_ARG"] = format(trace_sampling, "g")
    # One service name for both tracks, so traces of the stable and the canary
    # are one service in Jaeger, told apart by version and track attributes.
    env["OTEL_SERVICE_NAME"] = service_name
    env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(
        f"{key}={_resource_attribute(value)}"
        for key, value in (
            # deployment.environment.name replaced deployment.environment in
            # the OpenTelemetry semantic conventions 1.27.
            ("deployment.environment.name", environment),
            ("service.version", track_config.version),
            ("perfstack.track", track),
        )
    )
    env["APP_VERSION"] = track_config.version
    env["APP_TRACK"] = track
    env.update(service.env)
    env.update(track_config.env)
    return dict(sorted(env.items()))
