"""Typed configuration: a YAML file plus ``VIGIL_...`` environment variables.

Precedence: defaults < YAML file < environment. Nested keys are joined with ``__`` in variable
names: ``VIGIL_KAFKA__BOOTSTRAP_SERVERS=10.0.0.1:9092``,
``VIGIL_CAMERAS__gate-3__URL=rtsp://user:pass@10.0.0.5/stream1`` (camera ids keep their case).
Secrets can also come from mounted files: ``url_file``, ``password_file``.

Every model forbids unknown keys: a typo fails start-up with the offending key's path.
Secrets are :class:`pydantic.SecretStr`; :func:`redacted_dump` is the only way config is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from streaming.redact import redact_url

ENV_PREFIX = "VIGIL_"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class CameraConfig(_Strict):
    """One camera. The URL is a secret: it usually carries credentials."""

    url: SecretStr | None = Field(
        None, description="Any URL PyAV opens: rtsp://user:pass@host/path, or a file path."
    )
    url_file: Path | None = Field(None, description="File holding the URL (a mounted Kubernetes Secret).")
    audio: bool = Field(
        True, description="Ingest the audio track (a camera without one publishes video only)."
    )
    fps: float | None = Field(None, gt=0, description="Analysis frame rate; default from the model contract.")
    width: int | None = Field(
        None, gt=0, description="Analysis frame width; default from the model contract."
    )
    height: int | None = Field(
        None, gt=0, description="Analysis frame height; default from the model contract."
    )
    enabled: bool = Field(True, description="Set false to keep a camera configured but not ingested.")

    @model_validator(mode="after")
    def _one_url(self) -> CameraConfig:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("exactly one of 'url' or 'url_file' must be set")
        return self

    def resolved_url(self) -> str:
        """The camera URL (read from ``url_file`` when given). Never log it: use :meth:`safe_url`."""
        if self.url is not None:
            return self.url.get_secret_value()
        assert self.url_file is not None
        try:
            return self.url_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"camera url_file {self.url_file}: {exc.strerror}") from None

    def safe_url(self) -> str:
        """The URL with credentials replaced by ``***``, for logs and errors."""
        return redact_url(self.resolved_url())


class KafkaConfig(_Strict):
    """Connection to Kafka and topic defaults."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Use SASL_SSL (SCRAM) or SSL (mTLS) outside a lab."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when security_protocol is SASL_*."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        None, description="Prefer VIGIL_KAFKA__SASL_PASSWORD or password_file."
    )
    sasl_password_file: Path | None = Field(
        None, description="File holding the SASL password (mounted Secret)."
    )
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mTLS).")
    ssl_keyfile: Path | None = Field(None, description="Client private key (mTLS).")
    partitions: int = Field(6, ge=1, description="Partitions of topics Vigil creates (caps fusion replicas).")
    replication_factor: int = Field(1, ge=1, description="Replication factor of topics Vigil creates.")
    retention_ms: int = Field(
        6 * 3600 * 1000, ge=60_000, description="Retention of media topics (replay window)."
    )
    scores_retention_ms: int = Field(
        7 * 24 * 3600 * 1000, ge=60_000, description="Retention of the scores and dead-letter topics."
    )
    compression: Literal["lz4", "zstd", "gzip", "snappy", "none"] = Field(
        "lz4", description="Producer compression codec."
    )
    linger_ms: int = Field(5, ge=0, description="Producer batching delay.")
    batch_size: int = Field(256 * 1024, ge=1024, description="Producer batch size in bytes.")
    buffer_memory: int = Field(
        32 * 1024 * 1024,
        ge=1024 * 1024,
        description="Producer buffer; when full, ingest holds records in its backlog.",
    )
    max_request_size: int = Field(1_000_000, ge=1024, description="Largest record the producer sends.")
    delivery_timeout_s: float = Field(
        120.0,
        gt=0,
        description="The producer retries a record this long (broker outage) before it counts as failed.",
    )
    connect_retry_max_s: float = Field(
        30.0, gt=0, description="Cap of the backoff between connection attempts."
    )

    def sasl_password_value(self) -> str | None:
        """The SASL password from the config/env or its file."""
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None


class RedisConfig(_Strict):
    """Connection to Redis and where alerts go."""

    url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="redis:// or rediss:// URL.")
    password: SecretStr | None = Field(None, description="ACL password (or in the URL, or password_file).")
    password_file: Path | None = Field(None, description="File holding the Redis password (mounted Secret).")
    username: str | None = Field(None, description="Redis ACL user name.")
    ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify Redis's certificate (rediss:// URLs; default: the system's)."
    )
    stream: str = Field("vigil:alerts", description="Durable alert stream (consumer groups).")
    stream_maxlen: int = Field(100_000, ge=100, description="Approximate cap (XADD MAXLEN ~).")
    channel: str = Field("vigil:alerts:live", description="Pub/Sub channel for low-latency subscribers.")
    dedup_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="How long an alert id is remembered.")
    evidence_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="TTL of evidence thumbnails stored as keys."
    )
    socket_timeout_s: float = Field(5.0, gt=0, description="Connect/read timeout of Redis calls.")
    retry_backoff_initial_s: float = Field(
        0.2, gt=0, description="First wait after a failed delivery, or before a subscriber reconnects."
    )
    retry_backoff_max_s: float = Field(
        5.0, gt=0, description="Cap of the wait between delivery retries and subscriber reconnects."
    )

    def password_value(self) -> str | None:
        """The password from config/env or its file (None: from the URL or none)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return None


class TopicsConfig(_Strict):
    """Topic names: one place for them."""

    video: str = Field("vigil.video.v1", description="Analysis frames (JPEG), keyed by camera.")
    audio: str = Field("vigil.audio.v1", description="Mono audio chunks at the model rate, keyed by camera.")
    scores: str = Field("vigil.scores.v1", description="One score per (camera, window).")
    dead_letter: str = Field(
        "vigil.deadletter.v1", description="Records no service could process, with the reason."
    )


class HttpConfig(_Strict):
    """The service's HTTP endpoint (/metrics, /healthz, /readyz)."""

    host: str = Field("0.0.0.0", description="Bind address of /metrics, /healthz, /readyz.")
    port: int | None = Field(None, ge=0, le=65535, description="Default: the service's own port.")


class IngestConfig(_Strict):
    """Ingest tuning."""

    stall_timeout_s: float = Field(8.0, gt=0, description="No frame for this long = stalled; reconnect.")
    open_timeout_s: float = Field(8.0, gt=0, description="Give up opening a stream after this long.")
    backoff_initial_s: float = Field(0.5, gt=0, description="First reconnect delay (doubles, with jitter).")
    backoff_max_s: float = Field(30.0, gt=0, description="Cap of the reconnect delay.")
    crash_loop_max: int = Field(
        5, ge=1, description="Failures within crash_loop_window_s before backing off to the max."
    )
    crash_loop_window_s: float = Field(60.0, gt=0, description="Window of the crash-loop guard.")
    healthy_stream_s: float = Field(
        5.0,
        gt=0,
        description="A session that delivered frames this long was healthy: its end is no failure "
        "(the crash-loop count starts over) and reconnects are fast.",
    )
    recovery_backoff_max_s: float = Field(
        1.0,
        gt=0,
        description="Cap of the reconnect delay for recovery_window_s after a healthy stream ended.",
    )
    recovery_window_s: float = Field(
        60.0,
        ge=0,
        description="How long after a healthy stream ended reconnects stay fast; then backoff_max_s "
        "and the crash-loop guard apply.",
    )
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of frames sent to Kafka.")
    audio_chunk_s: float = Field(0.25, gt=0, le=2.0, description="Length of published audio chunks.")
    decode_threads: int = Field(1, ge=0, description="FFmpeg decoder threads per camera (0 = auto).")
    skip_loop_filter: bool = Field(
        True, description="Skip the H.264 deblocking filter (analysis needs no beauty)."
    )
    max_inflight_per_camera: int = Field(
        64,
        ge=1,
        description="Records per camera handed to the producer and not yet acknowledged; "
        "more wait in the camera's backlog.",
    )
    backlog_s: float = Field(
        60.0,
        ge=0,
        description="Per camera, records the bus has not taken yet are held up to this span of capture "
        "time (a broker outage); then the oldest are dropped.",
    )
    backlog_bytes: int = Field(
        8 * 1024 * 1024,
        ge=0,
        description="Per camera, most bytes held in the backlog; then the oldest records are dropped.",
    )
    shard_index: int = Field(
        0, ge=0, description="This process takes cameras whose index % shard_count == shard_index."
    )
    shard_count: int = Field(1, ge=1, description="Number of ingest processes sharing the cameras.")
    realtime: bool = Field(
        False, description="Pace file inputs at their frame rate (live cameras pace themselves)."
    )


class FusionConfig(_Strict):
    """Fusion tuning."""

    model_path: Path | None = Field(
        None, description="ONNX model with a Vigil contract; default: the bundled model."
    )
    providers: list[str] | None = Field(
        None, description="ONNX Runtime providers; default: TensorRT, CUDA, CPU."
    )
    group_id: str = Field("vigil-fusion", description="Consumer group (KEDA scales on its lag).")
    max_batch: int = Field(16, ge=1, description="Most windows per inference batch.")
    max_wait_ms: float = Field(50.0, ge=0, description="Longest wait to fill a batch.")
    inference_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Batches run at once; 0: one per CPU core (each single-threaded) on the CPU "
        "provider, one on a GPU.",
    )
    lateness_s: float = Field(3.0, ge=0, description="How long past a window's end to wait for a modality.")
    max_queue_windows: int = Field(256, ge=1, description="Pending windows before partitions are paused.")
    thumbnail_threshold: float = Field(
        0.3, ge=0, le=1, description="Attach a thumbnail above this anomaly score."
    )
    idle_timeout_s: float = Field(
        10.0, gt=0, description="Close a camera's windows after this long without records."
    )


class ClassPolicy(_Strict):
    """Thresholds for one incident class."""

    threshold: float = Field(0.5, ge=0, le=1, description="Class probability that counts as above.")


class AlertPolicyConfig(_Strict):
    """Per-camera alert policy (the ``default`` applies where a camera has none)."""

    anomaly_threshold: float = Field(0.5, ge=0, le=1, description="Anomaly score that counts as above.")
    classes: dict[str, ClassPolicy] = Field(
        default_factory=dict, description="Per-class thresholds, e.g. {gunshot: {threshold: 0.4}}."
    )
    raise_k: int = Field(2, ge=1, description="Raise after k of the last n windows are above threshold.")
    raise_n: int = Field(3, ge=1, description="Length of the raise window (k of n).")
    resolve_m: int = Field(3, ge=1, description="Resolve after m consecutive windows below threshold.")
    cooldown_s: float = Field(
        30.0,
        ge=0,
        description="After a resolve, no new incident of the same class (see cooldown_scope) for this "
        "long (event time).",
    )
    cooldown_scope: Literal["class", "camera"] = Field(
        "class",
        description="'class': a cooldown holds off only the resolved incident's class; 'camera': every class.",
    )
    cooldown_override_gain: float | None = Field(
        0.2,
        ge=0,
        le=1,
        description="In a cooldown, raise anyway when the new peak beats the resolved one by this much "
        "(null: never).",
    )
    update_min_interval_s: float = Field(
        5.0, ge=0, description="Least time between two updates of an incident."
    )

    @model_validator(mode="after")
    def _k_le_n(self) -> AlertPolicyConfig:
        if self.raise_k > self.raise_n:
            raise ValueError(f"raise_k ({self.raise_k}) must be <= raise_n ({self.raise_n})")
        return self


class AlertConfig(_Strict):
    """Alert service tuning."""

    group_id: str = Field("vigil-alert", description="Consumer group of the alert service.")
    default_policy: AlertPolicyConfig = Field(default_factory=AlertPolicyConfig)
    cameras: dict[str, AlertPolicyConfig] = Field(
        default_factory=dict, description="Per-camera policies overriding default_policy, by camera id."
    )
    accepted_model_versions: list[str] | None = Field(
        None,
        description="Score records of other versions are dead-lettered (default: the deployed model's version).",
    )
    thumbnail_inline_max_bytes: int = Field(
        16_384, ge=0, description="Larger thumbnails go to a Redis key with a TTL."
    )


class VigilConfig(_Strict):
    """The whole configuration of a Vigil deployment (each service reads what it needs)."""

    bus: Literal["kafka", "memory"] = Field(
        "kafka", description="'memory' runs everything in one process (demo)."
    )
    cameras: dict[str, CameraConfig] = Field(
        default_factory=dict, description="Cameras by id (see cameras.<id>.*)."
    )
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    alert: AlertConfig = Field(default_factory=AlertConfig)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    shutdown_timeout_s: float = Field(
        3.0,
        gt=0,
        le=600,
        description="After SIGTERM, the most seconds a service spends on in-flight work (flush, final "
        "commit, leaving its group), even with Kafka or Redis away; a watchdog ends the process 2 s "
        "later. Keep it plus 2 s under the orchestrator's grace period (compose: 10 s; Kubernetes: "
        "terminationGracePeriodSeconds, 30 s unless set).",
    )

    @field_validator("cameras")
    @classmethod
    def _camera_ids(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for camera_id in cameras:
            if not camera_id or any(c in camera_id for c in " /\\\t\n") or len(camera_id) > 64:
                raise ValueError(f"camera id {camera_id!r}: use 1-64 characters without spaces or slashes")
        return cameras


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``VIGIL_A__B__C=value`` variables into a nested dict ``{"a": {"b": {"c": value}}}``.

    Keys are lower-cased except camera ids (``VIGIL_CAMERAS__<id>__...``), which keep their case.
    Values stay strings; pydantic converts them to each field's type.
    """
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("VIGIL_CONFIG",):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        keys = [
            p
            if (i == 1 and parts[0].lower() == "cameras")
            or (i == 2 and parts[0].lower() == "alert" and parts[1].lower() == "cameras")
            else p.lower()
            for i, p in enumerate(parts)
        ]
        node = tree
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: conflicts with another VIGIL_ variable")
            node = child
        if isinstance(value, str) and value.startswith(("[", "{")):
            # lists/maps in env, e.g. VIGIL_FUSION__PROVIDERS='["CPUExecutionProvider"]'
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:  # never echo the value: it may be a secret
                where = getattr(exc, "problem", None) or type(exc).__name__
                raise ConfigError(
                    f"environment variable {name}: not a valid YAML/JSON list or map ({where})"
                ) from None
        node[keys[-1]] = value
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> VigilConfig:
    """Load the configuration from ``path`` (or ``$VIGIL_CONFIG``) and the environment.

    Raises :class:`ConfigError` naming the key path and the problem (unknown key, bad value).
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get("VIGIL_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {path}: the top level must be a mapping, not {type(loaded).__name__}"
            )
        data = loaded or {}
    data = _merge(data, env_overrides(environ))
    try:
        return VigilConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path) if path else "environment")) from None


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'")
        else:
            # never echo the input: it may be a secret
            lines.append(f"'{key}': {err['msg']}")
    return f"invalid configuration ({source}): " + "; ".join(lines)


def redacted_dump(config: VigilConfig) -> dict[str, Any]:
    """The configuration as a dict safe to print or log: secrets masked, camera URLs redacted."""
    data = config.model_dump(mode="json")  # SecretStr dumps as '**********'
    for camera_id, camera in config.cameras.items():
        if camera.url is not None:
            data["cameras"][camera_id]["url"] = redact_url(camera.url.get_secret_value())
    data["redis"]["url"] = redact_url(config.redis.url.get_secret_value())
    return data
