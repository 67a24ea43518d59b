"""Typed, validated per-environment configuration.

Config is data: one YAML file per environment, validated once when the app starts, then passed
down as frozen typed values. Every error names the file, the field and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stacks.stream_budget import (
    API_GATEWAY_IDLE_TIMEOUT_SECONDS,
    API_GATEWAY_STREAM_MAX_SECONDS,
    MIN_STREAM_SECONDS,
    StreamBudget,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
ENVIRONMENTS = ("dev", "preprod", "prod")

_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*x?large$")
_STAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,15}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Standard topics only: CloudWatch alarm actions cannot publish to FIFO topics.
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")


def _sagemaker_instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise ValueError("must be a SageMaker instance type such as 'ml.g5.2xlarge' (starting with 'ml.')")
    return value


class ConfigError(Exception):
    """A config file that cannot be used; the message is meant for the person editing it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ContainerConfig(_Model):
    """The serving container. TGI images come from the region's Deep Learning Containers account."""

    framework: Literal["tgi"] = "tgi"
    repository: str = "huggingface-pytorch-tgi-inference"
    tag: str = "2.4.0-tgi3.0.1-gpu-py311-cu124-ubuntu22.04-v2.0"


class ModelConfig(_Model):
    """What to serve: a Hugging Face Hub id, or uncompressed artifacts under an S3 prefix."""

    hub_id: str | None = None
    s3_uri: str | None = None
    num_gpus: Annotated[int, Field(ge=1, le=8)] = 1
    max_input_tokens: Annotated[int, Field(ge=1)] = 1024
    max_total_tokens: Annotated[int, Field(ge=2)] = 2048
    container: ContainerConfig = ContainerConfig()
    startup_health_check_timeout_seconds: Annotated[int, Field(ge=60, le=3600)] = 900

    @field_validator("hub_id")
    @classmethod
    def _hub_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not _HUB_ID.match(value):
            raise ValueError("must look like 'organisation/model-name'")
        return value

    @field_validator("s3_uri")
    @classmethod
    def _s3_uri_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", value):
            raise ValueError("must be an S3 prefix like 's3://bucket/path/to/model/' (with the trailing '/')")
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelConfig:
        if (self.hub_id is None) == (self.s3_uri is None):
            raise ValueError("set exactly one of 'hub_id' or 's3_uri'")
        if self.max_input_tokens >= self.max_total_tokens:
            raise ValueError("'max_input_tokens' must be below 'max_total_tokens'")
        return self

    @property
    def s3_bucket_and_prefix(self) -> tuple[str, str] | None:
        if self.s3_uri is None:
            return None
        bucket, _, prefix = self.s3_uri.removeprefix("s3://").partition("/")
        return bucket, prefix


class ScalingConfig(_Model):
    min_capacity: Annotated[int, Field(ge=0)] = 0
    max_capacity: Annotated[int, Field(ge=1, le=100)] = 1
    target_backlog_per_instance: Annotated[float, Field(gt=0)] = 5.0
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 300

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ScalingConfig:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"'min_capacity' ({self.min_capacity}) must not be above 'max_capacity' ({self.max_capacity})"
            )
        return self


class AlarmConfig(_Model):
    oldest_request_age_seconds: Annotated[int, Field(ge=60)] = 1800
    invocation_failures: Annotated[int, Field(ge=1)] = 1
    notification_failures: Annotated[int, Field(ge=1)] = 1
    evaluation_periods: Annotated[int, Field(ge=1, le=60)] = 3

    @model_validator(mode="before")
    @classmethod
    def _email_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "email" in data:
            raise ValueError("'email' moved to the top-level 'alarms.email' (a list of addresses); move it there")
        return data


class AlarmRecipientsConfig(_Model):
    """Who is told when any alarm of the environment changes state.

    `email` addresses are subscribed to the environment's alarm topic (each confirms once, by the
    link SNS mails). `topic_arns` are existing standard SNS topics in the environment's region, for
    example one that Amazon Q Developer in chat applications (AWS Chatbot) relays to a channel:
    every alarm publishes to them as well, so their own policy must let CloudWatch alarms publish.
    """

    email: list[str] = []
    # CloudWatch accepts at most 5 actions per alarm state, and the environment's own topic is one.
    topic_arns: Annotated[list[str], Field(max_length=4)] = []

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an email address such as 'platform-oncall@example.com'")
        return value

    @field_validator("topic_arns")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not _TOPIC_ARN.match(arn):
                raise ValueError(
                    f"{arn!r} is not a standard SNS topic ARN such as 'arn:aws:sns:eu-west-1:111111111111:oncall'"
                )
        return value

    @property
    def anyone(self) -> bool:
        return bool(self.email or self.topic_arns)


class AsyncEndpointConfig(_Model):
    instance_type: str
    max_concurrent_invocations_per_instance: Annotated[int, Field(ge=1, le=1000)] = 4
    scaling: ScalingConfig = ScalingConfig()
    alarms: AlarmConfig = AlarmConfig()

    @field_validator("instance_type")
    @classmethod
    def _sagemaker_instance(cls, value: str) -> str:
        return _sagemaker_instance_type(value)


class StreamingAlarmConfig(_Model):
    model_latency_p90_ms: Annotated[int, Field(ge=1)] = 30000
    invocation_5xx_errors: Annotated[int, Field(ge=1)] = 5
    evaluation_periods: Annotated[int, Field(ge=1, le=60)] = 3


class StreamingConfig(_Model):
    """The real-time endpoint that streams tokens, hosted as an inference component."""

    enabled: bool = True
    instance_type: str
    scale_to_zero: bool = True
    # Used only when scale_to_zero is off: copies and instances never go below it.
    min_copies: Annotated[int, Field(ge=1)] = 1
    max_copies: Annotated[int, Field(ge=1, le=100)] = 1
    max_instances: Annotated[int, Field(ge=1, le=100)] = 2
    target_invocations_per_copy: Annotated[float, Field(gt=0)] = 4.0
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    memory_per_copy_mb: Annotated[int, Field(ge=1024)] = 16384
    container_format: Literal["tgi"] = "tgi"
    # The stream budget (stacks/stream_budget.py, docs/streaming.md): the longest one stream may
    # last, and the longest the relay waits for the model's next bytes.
    max_stream_seconds: Annotated[int, Field(ge=MIN_STREAM_SECONDS, le=API_GATEWAY_STREAM_MAX_SECONDS)] = (
        API_GATEWAY_STREAM_MAX_SECONDS
    )
    upstream_read_timeout_seconds: Annotated[int, Field(ge=5, lt=API_GATEWAY_IDLE_TIMEOUT_SECONDS)] = 60
    # Lambda Web Adapter, published by AWS as a public layer (LambdaAdapterLayerX86).
    web_adapter_layer_version: Annotated[int, Field(ge=1)] = 26
    alarms: StreamingAlarmConfig = StreamingAlarmConfig()

    @field_validator("instance_type")
    @classmethod
    def _sagemaker_instance(cls, value: str) -> str:
        return _sagemaker_instance_type(value)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> StreamingConfig:
        if self.min_copies > self.max_copies:
            raise ValueError(f"'min_copies' ({self.min_copies}) must not be above 'max_copies' ({self.max_copies})")
        return self

    @model_validator(mode="after")
    def _room_for_a_model_update(self) -> StreamingConfig:
        # A model or container update starts every copy again beside the old one before stopping it
        # (README, "Model updates on the streaming endpoint"); a copy may take a whole instance.
        needed = 2 * self.max_copies
        if self.max_instances < needed:
            raise ValueError(
                f"'max_instances' ({self.max_instances}) must be at least twice 'max_copies' ({self.max_copies}), "
                f"so {needed}: a model update starts each copy again beside the old one before stopping it"
            )
        return self

    @model_validator(mode="after")
    def _budget_nests(self) -> StreamingConfig:
        StreamBudget(stream_seconds=self.max_stream_seconds, read_timeout_seconds=self.upstream_read_timeout_seconds)
        return self

    @property
    def budget(self) -> StreamBudget:
        return StreamBudget(
            stream_seconds=self.max_stream_seconds, read_timeout_seconds=self.upstream_read_timeout_seconds
        )


class StorageConfig(_Model):
    input_expiry_days: Annotated[int, Field(ge=1)] = 7
    output_expiry_days: Annotated[int, Field(ge=1)] = 30
    access_log_expiry_days: Annotated[int, Field(ge=1)] = 90
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653] = 30
    removal_policy: Literal["destroy", "retain"] = "retain"


class ApiConfig(_Model):
    """The HTTP API in front of the endpoints, and the functions behind it."""

    throttling_rate_limit: Annotated[float, Field(gt=0, le=10000)] = 20.0
    throttling_burst_limit: Annotated[int, Field(ge=1, le=5000)] = 40
    max_inline_bytes: Annotated[int, Field(ge=1024, le=5 * 1024 * 1024)] = 256 * 1024
    presign_expiry_seconds: Annotated[int, Field(ge=60, le=3600)] = 900
    request_record_ttl_days: Annotated[int, Field(ge=1, le=365)] = 30
    point_in_time_recovery: bool = True
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] = 20
    # Other accounts whose IAM principals may call this API (for example the tooling account's
    # smoke test). Callers in the API's own account need only their IAM policy.
    invoker_accounts: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = []


class EnvironmentConfig(_Model):
    """Everything that differs between dev, preprod and prod."""

    stage_name: str
    account: str | None = None
    region: str | None = None
    resource_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
    # A developer's personal environment: deployed from a laptop, never by the pipeline, and held
    # to looser rules where a shared environment must not be (alarm recipients, pinned models).
    sandbox: bool = False
    # Validated even when absent: only a sandbox may leave alarms without recipients.
    alarms: Annotated[AlarmRecipientsConfig, Field(validate_default=True)] = AlarmRecipientsConfig()
    model: ModelConfig
    async_endpoint: AsyncEndpointConfig
    storage: StorageConfig = StorageConfig()
    api: ApiConfig = ApiConfig()
    streaming: StreamingConfig

    @field_validator("stage_name")
    @classmethod
    def _stage_name_shape(cls, value: str) -> str:
        if not _STAGE_NAME.match(value):
            raise ValueError("must be 1-16 letters or digits starting with a capital letter, such as 'PreProd'")
        return value

    @field_validator("account")
    @classmethod
    def _account_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{12}", value):
            raise ValueError("must be a 12-digit AWS account id in quotes, or null for an environment-agnostic stage")
        return value

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", value):
            raise ValueError("must be an AWS region such as 'eu-west-1', or null for an environment-agnostic stage")
        return value

    @field_validator("alarms")
    @classmethod
    def _somebody_is_told(cls, value: AlarmRecipientsConfig, info: ValidationInfo) -> AlarmRecipientsConfig:
        if not value.anyone and not info.data.get("sandbox", False):
            raise ValueError(
                "nobody would hear of an alarm: list addresses under 'alarms.email' or topics under "
                "'alarms.topic_arns' (only an environment with 'sandbox: true' may have neither)"
            )
        region = info.data.get("region")
        for arn in value.topic_arns:
            topic_region = _TOPIC_ARN.match(arn)["region"]
            if region is not None and topic_region != region:
                raise ValueError(
                    f"topic {arn!r} is in {topic_region}; CloudWatch alarms publish only to topics in "
                    f"their own region ({region})"
                )
        return value

    @model_validator(mode="after")
    def _account_and_region_together(self) -> EnvironmentConfig:
        if (self.account is None) != (self.region is None):
            raise ValueError("set both 'account' and 'region', or neither (environment-agnostic)")
        return self


def _describe(error: dict) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"field '{field}': unknown key; remove it or check its spelling"
    if kind == "missing":
        return f"field '{field}': required but missing"
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(error.get("input"), BaseModel):
        # A section left out and checked with its defaults: there is no typed value to quote.
        return f"field '{field}': {message}"
    return f"field '{field}': {message} (got {error.get('input')!r})"


def parse_environment_config(data: object, source: str) -> EnvironmentConfig:
    """Validate already-loaded YAML data; `source` names the file in every error."""
    return _validate(EnvironmentConfig, data, source)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None


def _validate(model: type[BaseModel], data: object, source: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must hold a mapping of settings, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "\n  ".join(_describe(e) for e in err.errors())
        raise ConfigError(f"{source}: invalid configuration\n  {problems}") from None


def load_environment_config(path: Path) -> EnvironmentConfig:
    return parse_environment_config(_read_yaml(path), str(path))


def load_all(config_dir: Path = CONFIG_DIR) -> list[EnvironmentConfig]:
    configs = [load_environment_config(config_dir / f"{name}.yaml") for name in ENVIRONMENTS]
    names = [c.stage_name for c in configs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{config_dir}: 'stage_name' must differ between environments (got {names})")
    return configs


class DeploymentTarget(_Model):
    account: Annotated[str, Field(pattern=r"^\d{12}$")]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]


class PipelineConfig(_Model):
    """config/pipeline.yaml: where the promotion pipeline runs and what it builds."""

    tooling: DeploymentTarget
    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    branch: Annotated[str, Field(min_length=1)] = "main"
    connection_arn: Annotated[
        str,
        Field(pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"),
    ]
    # Dev is environment-agnostic for laptop deploys; the pipeline needs a concrete target for it.
    dev: DeploymentTarget
    smoke_test_timeout_minutes: Annotated[int, Field(ge=5, le=480)] = 90


def load_pipeline_config(config_dir: Path = CONFIG_DIR) -> PipelineConfig:
    path = config_dir / "pipeline.yaml"
    return _validate(PipelineConfig, _read_yaml(path), str(path))
