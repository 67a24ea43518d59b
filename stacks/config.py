"""Typed, validated per-environment configuration.

Config is data: every `config/*.yaml` except `pipeline.yaml` and `_`-prefixed files is one
environment, validated once when the app starts, then passed down as frozen typed values. Every
error names the file, the field and what is allowed (stacks/config_errors.py formats them).
"""

from __future__ import annotations

import re
from collections import Counter
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

from stacks.aws_names import SAGEMAKER_INSTANCE_TYPES, SAGEMAKER_REGIONS
from stacks.catalog_rules import catalog_problems
from stacks.config_errors import ConfigError, FieldProblems, did_you_mean, format_validation_error, unknown_choice
from stacks.stream_budget import (
    API_GATEWAY_IDLE_TIMEOUT_SECONDS,
    API_GATEWAY_STREAM_MAX_SECONDS,
    MIN_STREAM_SECONDS,
    StreamBudget,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PIPELINE_FILE = "pipeline.yaml"

_STAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,15}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Standard topics only: CloudWatch alarm actions cannot publish to FIFO topics.
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")

AccountId = Annotated[
    str, Field(pattern=r"^\d{12}$", description="a 12-digit AWS account id in quotes, such as '123456789012'")
]


def _sagemaker_instance_type(value: str) -> str:
    if value not in SAGEMAKER_INSTANCE_TYPES:
        raise unknown_choice(
            "SageMaker instance type",
            value,
            SAGEMAKER_INSTANCE_TYPES,
            "hosting instance types start with 'ml.', such as 'ml.g5.2xlarge'",
        )
    return value


def _sagemaker_region(value: str) -> str:
    if value not in SAGEMAKER_REGIONS:
        raise unknown_choice("AWS region", value, SAGEMAKER_REGIONS, "a region where SageMaker runs, such as 'eu-west-1'")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(:(?P<tag>[A-Za-z0-9_.-]+)|@sha256:[0-9a-f]{64})$"
)
# Hugging Face reads these; a token in config would land in git, the template and the model.
_TOKEN_VARIABLES = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN"})


class HubSource(_Model):
    """A Hugging Face Hub model that the container downloads when it starts."""

    id: str
    # A commit sha; required outside a sandbox (see EnvironmentConfig), because the Hub's head moves.
    revision: str | None = None

    @field_validator("id")
    @classmethod
    def _hub_id_shape(cls, value: str) -> str:
        if not _HUB_ID.match(value):
            raise ValueError("must look like 'organisation/model-name'")
        return value

    @field_validator("revision")
    @classmethod
    def _commit_sha(cls, value: str | None) -> str | None:
        if value is not None and not _COMMIT_SHA.match(value):
            raise ValueError(
                "must be a full 40-character commit sha from the model's 'Files and versions' history, "
                "not a branch or tag: a branch moves"
            )
        return value


class S3Source(_Model):
    """Uncompressed model files under an S3 prefix (for example written by `llm-infer mirror`)."""

    uri: str
    # The customer-managed key that encrypts the objects, when it is not the bucket's S3-managed key.
    kms_key_arn: str | None = None

    @field_validator("uri")
    @classmethod
    def _s3_prefix(cls, value: str) -> str:
        if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", value):
            raise ValueError("must be an S3 prefix like 's3://bucket/path/to/model/' (with the trailing '/')")
        return value

    @field_validator("kms_key_arn")
    @classmethod
    def _key_arn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$", value):
            raise ValueError("must be a KMS key ARN such as 'arn:aws:kms:eu-west-1:111122223333:key/<key id>'")
        return value

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[0]

    @property
    def prefix(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[2]


class SourceConfig(_Model):
    hub: HubSource | None = None
    s3: S3Source | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceConfig:
        if (self.hub is None) == (self.s3 is None):
            raise ValueError("set exactly one of 'hub' (id and revision) or 's3' (uri)")
        return self


class ContainerConfig(_Model):
    """The serving container: a framework from AWS's image table (stacks/serving_images.json), or a
    pinned image that speaks that framework's protocol."""

    framework: Literal["lmi", "vllm", "tgi"] = "lmi"
    # A version listed in stacks/serving_images.json; the newest listed when unset.
    version: str | None = None
    # A private ECR image pinned by tag or digest, instead of AWS's image for the framework.
    image_uri: str | None = None
    max_model_len: Annotated[int, Field(ge=256, le=1_048_576)] = 4096
    # Defaults to the model's resources.gpus: the model is sharded across every GPU of a copy.
    tensor_parallel_degree: Annotated[int, Field(ge=1, le=8)] | None = None
    dtype: Literal["auto", "bfloat16", "float16"] = "auto"
    max_batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None
    startup_health_check_timeout_seconds: Annotated[int, Field(ge=60, le=3600)] = 900
    # Further container variables, passed as they are (for example OPTION_GPU_MEMORY_UTILIZATION).
    environment: dict[str, str] = {}

    @field_validator("image_uri")
    @classmethod
    def _pinned_ecr_image(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = _ECR_IMAGE.match(value)
        if not match:
            raise ValueError(
                "must be a private ECR image pinned by tag or digest, such as "
                "'111122223333.dkr.ecr.eu-west-1.amazonaws.com/my-lmi:0.38.0-custom1'"
            )
        if match.group("tag") == "latest":
            raise ValueError("must be pinned: 'latest' moves; use a version tag or an @sha256: digest")
        return value

    @field_validator("environment")
    @classmethod
    def _no_tokens(cls, value: dict[str, str]) -> dict[str, str]:
        tokens = sorted(_TOKEN_VARIABLES & set(value))
        if tokens:
            raise ValueError(
                f"must not hold {', '.join(tokens)}: a token in config ends up in git, the template and the "
                "model definition; mirror a gated model into S3 instead (README, 'Gated models')"
            )
        return value

    @property
    def image_parts(self) -> tuple[str, str, str] | None:
        """(account, region, repository) of a pinned image_uri."""
        match = _ECR_IMAGE.match(self.image_uri) if self.image_uri else None
        return (match.group("account"), match.group("region"), match.group("repository")) if match else None


class ResourcesConfig(_Model):
    """What one copy of the model needs on an instance."""

    gpus: Annotated[int, Field(ge=1, le=8)] = 1
    # Host memory (not GPU memory) reserved per copy: an inference component's MinMemoryRequiredInMb.
    memory_mb: Annotated[int, Field(ge=1024)] = 16384
    # The model's weights (the sum of its weight files; `llm-infer mirror` prints it): checked at
    # synth against the GPU memory of a copy, instead of the model failing to load 15-30 minutes
    # into a deploy. Optional, as synth cannot look at the files.
    weights_gib: Annotated[float, Field(gt=0)] | None = None


# The idle tail is counted in one-minute CloudWatch datapoints (docs/scale-to-zero.md). Below three
# minutes a pause between two requests of one conversation would tear the GPU down.
IDLE_MINUTES_MIN, IDLE_MINUTES_MAX = 3, 120
# A held streaming request must leave its answer this much of the stream's budget (the function's
# timeout, inside API Gateway's stream limit).
HOLD_ANSWER_SECONDS = 180


class ScalingConfig(_Model):
    min_capacity: Annotated[int, Field(ge=0)] = 0
    max_capacity: Annotated[int, Field(ge=1, le=100)] = 1
    target_backlog_per_instance: Annotated[float, Field(gt=0)] = 5.0
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    # Minutes with nothing queued or in process before the endpoint goes to zero instances
    # (with min_capacity 0).
    idle_minutes: Annotated[int, Field(ge=IDLE_MINUTES_MIN, le=IDLE_MINUTES_MAX)] = 10

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ScalingConfig:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"'min_capacity' ({self.min_capacity}) must not be above 'max_capacity' ({self.max_capacity})"
            )
        return self


class AsyncAlarmConfig(_Model):
    oldest_request_age_seconds: Annotated[int, Field(ge=60)] = 1800
    invocation_failures: Annotated[int, Field(ge=1)] = 1
    notification_failures: Annotated[int, Field(ge=1)] = 1
    evaluation_periods: Annotated[int, Field(ge=1, le=60)] = 3


_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")


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

    @property
    def placeholder_addresses(self) -> list[str]:
        """Addresses at the domains RFC 2606 reserves for examples, such as the shipped configs' own:
        synth accepts them (a fresh clone synthesizes); the deploy preflight refuses them."""
        return [address for address in self.email if address.rsplit("@", 1)[-1].lower() in _EXAMPLE_DOMAINS]

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


class AsyncModeConfig(_Model):
    """The model's own async endpoint (async endpoints cannot host inference components)."""

    instance_type: str
    max_concurrent_invocations_per_instance: Annotated[int, Field(ge=1, le=1000)] = 4
    scaling: ScalingConfig = ScalingConfig()
    alarms: AsyncAlarmConfig = AsyncAlarmConfig()

    @field_validator("instance_type")
    @classmethod
    def _sagemaker_instance(cls, value: str) -> str:
        return _sagemaker_instance_type(value)


class StreamingAlarmConfig(_Model):
    model_latency_p90_ms: Annotated[int, Field(ge=1)] = 30000
    invocation_5xx_errors: Annotated[int, Field(ge=1)] = 5
    evaluation_periods: Annotated[int, Field(ge=1, le=60)] = 3


class StreamingModeConfig(_Model):
    """The model's inference component on the environment's shared streaming endpoint."""

    # Used only when the endpoint does not scale to zero: copies never go below it.
    min_copies: Annotated[int, Field(ge=1)] = 1
    max_copies: Annotated[int, Field(ge=1, le=100)] = 1
    target_invocations_per_copy: Annotated[float, Field(gt=0)] = 4.0
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    # With scale to zero: minutes with no invocation, no open stream and no refused request before
    # the copies go to zero.
    idle_minutes: Annotated[int, Field(ge=IDLE_MINUTES_MIN, le=IDLE_MINUTES_MAX)] = 10
    alarms: StreamingAlarmConfig = StreamingAlarmConfig()

    @model_validator(mode="after")
    def _bounds_ordered(self) -> StreamingModeConfig:
        if self.min_copies > self.max_copies:
            raise ValueError(f"'min_copies' ({self.min_copies}) must not be above 'max_copies' ({self.max_copies})")
        return self


class ModelConfig(_Model):
    """One entry of the catalog: what to serve, in which container, and how (async, streaming, both)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    default: bool = False
    source: SourceConfig
    container: ContainerConfig = ContainerConfig()
    resources: ResourcesConfig = ResourcesConfig()
    async_: AsyncModeConfig | None = Field(default=None, alias="async")
    streaming: StreamingModeConfig | None = None
    # With an S3 source the container needs no network; a Hub source must download at start.
    network_isolation: bool | None = None

    @model_validator(mode="after")
    def _serves_somehow(self) -> ModelConfig:
        if self.async_ is None and self.streaming is None:
            raise ValueError("set 'async', 'streaming' or both: a model that is served by neither mode is never used")
        if self.source.hub is not None and self.network_isolation:
            raise ValueError("'network_isolation' cannot be on with a 'hub' source: the container downloads the model")
        return self

    @property
    def isolated(self) -> bool:
        return self.source.s3 is not None if self.network_isolation is None else self.network_isolation

    @property
    def tensor_parallel_degree(self) -> int:
        return self.container.tensor_parallel_degree or self.resources.gpus


class StreamingEndpointConfig(_Model):
    """The one real-time endpoint whose instances the streaming models' inference components share."""

    instance_type: str
    scale_to_zero: bool = True
    # Room for a model update: see catalog_rules (README, "Model updates on the streaming endpoint").
    max_instances: Annotated[int, Field(ge=1, le=100)] = 2
    # The stream budget (stacks/stream_budget.py, docs/streaming.md): the longest one stream may
    # last, and the longest the relay waits for the model's next bytes.
    max_stream_seconds: Annotated[int, Field(ge=MIN_STREAM_SECONDS, le=API_GATEWAY_STREAM_MAX_SECONDS)] = (
        API_GATEWAY_STREAM_MAX_SECONDS
    )
    upstream_read_timeout_seconds: Annotated[int, Field(ge=5, lt=API_GATEWAY_IDLE_TIMEOUT_SECONDS)] = 60
    # With scale to zero: how long a request for a model at zero copies is held while it wakes, and
    # how often a held response sends a keep-alive (API Gateway drops a stream idle for 5 minutes).
    max_hold_seconds: Annotated[int, Field(ge=30, le=API_GATEWAY_STREAM_MAX_SECONDS)] = 600
    hold_keepalive_seconds: Annotated[int, Field(ge=5, le=60)] = 15
    # Lambda Web Adapter, published by AWS as a public layer (LambdaAdapterLayerX86).
    web_adapter_layer_version: Annotated[int, Field(ge=1)] = 26

    @field_validator("instance_type")
    @classmethod
    def _sagemaker_instance(cls, value: str) -> str:
        return _sagemaker_instance_type(value)

    @model_validator(mode="after")
    def _budget_nests(self) -> StreamingEndpointConfig:
        budget = StreamBudget(
            stream_seconds=self.max_stream_seconds, read_timeout_seconds=self.upstream_read_timeout_seconds
        )
        longest_hold = budget.function_timeout_seconds - HOLD_ANSWER_SECONDS
        if self.max_hold_seconds > longest_hold:
            raise ValueError(
                f"'max_hold_seconds' ({self.max_hold_seconds}) must leave the answer {HOLD_ANSWER_SECONDS} s of the "
                f"stream's {budget.function_timeout_seconds} s (max_stream_seconds less the start margin): "
                f"at most {longest_hold}"
            )
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

    # Off: no API stack; callers invoke the endpoints with SageMaker's own API and IAM.
    enabled: bool = True
    throttling_rate_limit: Annotated[float, Field(gt=0, le=10000)] = 20.0
    throttling_burst_limit: Annotated[int, Field(ge=1, le=5000)] = 40
    max_inline_bytes: Annotated[int, Field(ge=1024, le=5 * 1024 * 1024)] = 256 * 1024
    presign_expiry_seconds: Annotated[int, Field(ge=60, le=3600)] = 900
    request_record_ttl_days: Annotated[int, Field(ge=1, le=365)] = 30
    point_in_time_recovery: bool = True
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] = 20
    # Other accounts whose IAM principals may call this API (for example the tooling account's
    # smoke test). Callers in the API's own account need only their IAM policy.
    invoker_accounts: list[AccountId] = []


class EnvironmentConfig(_Model):
    """Everything that differs between dev, preprod and prod."""

    stage_name: str
    account: str | None = None
    region: str | None = None
    resource_prefix: Annotated[
        str,
        Field(
            pattern=r"^[a-z][a-z0-9-]{1,20}$",
            description="2-21 lowercase letters, digits or '-', starting with a letter, such as 'llm-dev'",
        ),
    ]
    # A developer's personal environment: deployed from a laptop, never by the pipeline, and held
    # to looser rules where a shared environment must not be (alarm recipients, pinned models).
    sandbox: bool = False
    # Validated even when absent: only a sandbox may leave alarms without recipients.
    alarms: Annotated[AlarmRecipientsConfig, Field(validate_default=True)] = AlarmRecipientsConfig()
    # The model catalog: callers name these models; one is the default (README, "Model catalog").
    models: Annotated[dict[str, ModelConfig], Field(min_length=1)]
    # Required when any model streams.
    streaming_endpoint: StreamingEndpointConfig | None = None
    storage: StorageConfig = StorageConfig()
    api: ApiConfig = ApiConfig()

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
    def _known_region(cls, value: str | None) -> str | None:
        return None if value is None else _sagemaker_region(value)

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

    @model_validator(mode="after")
    def _catalog_rules(self) -> EnvironmentConfig:
        problems = catalog_problems(self)
        if problems:
            raise FieldProblems(problems)
        return self

    @property
    def default_model(self) -> str:
        marked = [name for name, model in self.models.items() if model.default]
        return marked[0] if marked else next(iter(self.models))

    @property
    def async_models(self) -> dict[str, ModelConfig]:
        return {name: model for name, model in self.models.items() if model.async_ is not None}

    @property
    def streaming_models(self) -> dict[str, ModelConfig]:
        return {name: model for name, model in self.models.items() if model.streaming is not None}



def parse_environment_config(data: object, source: str) -> EnvironmentConfig:
    """Validate already-loaded YAML data; `source` names the file in every error."""
    return _validate(EnvironmentConfig, data, source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a config file with both is a mistake."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {first})", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> object:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file ({err.strerror})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; an environment needs at least stage_name and resource_prefix")
    return data


def _validate(model: type[BaseModel], data: object, source: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must hold a mapping of settings, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise format_validation_error(source, err, model) from None


def load_environment_config(path: Path) -> EnvironmentConfig:
    return parse_environment_config(_read_yaml(path), str(path))


def _as_typed(path: Path) -> Path:
    """`config/dev.yaml` rather than an absolute path in messages, when run from the project."""
    cwd = Path.cwd()
    return path.relative_to(cwd) if path.is_absolute() and path.is_relative_to(cwd) and cwd != Path(cwd.anchor) else path


def environment_files(config_dir: Path = CONFIG_DIR) -> list[Path]:
    """Every environment's file: `*.yaml` directly in `config_dir`, except pipeline.yaml and `_*`."""
    config_dir = _as_typed(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: no such config directory")
    misnamed = sorted(config_dir.glob("*.yml"))
    if misnamed:
        raise ConfigError(f"{misnamed[0]}: environment files end in '.yaml'; rename it to {misnamed[0].stem}.yaml")
    files = sorted(p for p in config_dir.glob("*.yaml") if p.name != PIPELINE_FILE and not p.name.startswith("_"))
    if not files:
        raise ConfigError(f"{config_dir}: no environment files (*.yaml other than {PIPELINE_FILE})")
    return files


def load_environments(config_dir: Path = CONFIG_DIR) -> dict[Path, EnvironmentConfig]:
    """Each environment file and its config, in file-name order; names and prefixes must be unique."""
    environments = {path: load_environment_config(path) for path in environment_files(config_dir)}
    for field in ("stage_name", "resource_prefix"):
        counts = Counter(getattr(config, field) for config in environments.values())
        for value, count in counts.items():
            if count > 1:
                clashing = [str(p) for p, c in environments.items() if getattr(c, field) == value]
                names = "the Stage" if field == "stage_name" else "the stacks and endpoints"
                raise ConfigError(
                    f"{', '.join(clashing)}: field '{field}': {value!r} is used by {count} environments; "
                    f"each environment needs its own (it names {names})"
                )
    return environments


def load_all(config_dir: Path = CONFIG_DIR) -> list[EnvironmentConfig]:
    return list(load_environments(config_dir).values())


class DeploymentTarget(_Model):
    account: AccountId
    region: str

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return _sagemaker_region(value)


class Wave(_Model):
    """Environments the pipeline deploys in parallel, after the wave before them."""

    name: Annotated[
        str,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", description="1-32 letters, digits or '-', such as 'PreProd'"),
    ]
    # Stage names (`stage_name` in each environment's file).
    environments: Annotated[list[str], Field(min_length=1)]
    # A person approves in the console before any environment of the wave deploys.
    approval: bool = False
    # scripts/smoke_test.py runs against each environment of the wave once it has deployed.
    smoke_test: bool = False


class PipelineConfig(_Model):
    """config/pipeline.yaml: where the promotion pipeline runs, what it builds, the promotion waves."""

    tooling: DeploymentTarget
    repository: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="'owner/name' of the repository")
    ]
    branch: Annotated[str, Field(min_length=1)] = "main"
    connection_arn: Annotated[
        str,
        Field(
            pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$",
            description="a connection ARN, 'arn:aws:codeconnections:<region>:<account>:connection/<uuid>' "
            "(or the older 'codestar-connections' prefix)",
        ),
    ]
    waves: Annotated[list[Wave], Field(min_length=1)]
    # The smoke test's whole budget. Its CodeBuild step adds set-up time; CodeBuild allows a build
    # 5 to 2160 minutes (BuildTimeOut in botocore's codebuild model), well above 480 plus set-up.
    smoke_test_timeout_minutes: Annotated[int, Field(ge=5, le=480)] = 90

    @model_validator(mode="before")
    @classmethod
    def _dev_target_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "dev" in data:
            raise ValueError(
                "the 'dev' block has moved: the pipeline deploys each environment to the account and region in "
                "its own file, so put Dev's in config/dev.yaml (account, region), remove 'dev' here, and list "
                "the environments under 'waves' (README, 'The promotion pipeline')"
            )
        return data

    @property
    def connection_service_prefix(self) -> str:
        """The IAM service prefix of the connection's ARN: `codeconnections` or `codestar-connections`."""
        return self.connection_arn.split(":")[2]


def load_pipeline_config(
    config_dir: Path = CONFIG_DIR, environments: dict[Path, EnvironmentConfig] | None = None
) -> PipelineConfig:
    """Read pipeline.yaml and check its waves against the environments' files."""
    path = _as_typed(config_dir) / PIPELINE_FILE
    pipeline = _validate(PipelineConfig, _read_yaml(path), str(path))
    environments = load_environments(config_dir) if environments is None else environments
    _check_waves(path, pipeline, environments)
    return pipeline


# CDK Pipelines names these stages of every pipeline itself; a wave is a stage too.
_PIPELINE_OWN_STAGES = ("Source", "Build", "UpdatePipeline", "Assets")


def _check_waves(path: Path, pipeline: PipelineConfig, environments: dict[Path, EnvironmentConfig]) -> None:
    by_name = {config.stage_name: (file, config) for file, config in environments.items()}
    known = ", ".join(f"{name} ({file.name})" for name, (file, _) in by_name.items())
    placed: dict[str, str] = {}
    wave_names: set[str] = set()
    for w, wave in enumerate(pipeline.waves):
        if wave.name in _PIPELINE_OWN_STAGES:
            raise ConfigError(
                f"{path}: field 'waves[{w}].name': {wave.name!r} is the name of one of the pipeline's own stages "
                f"({', '.join(_PIPELINE_OWN_STAGES)}); name the wave after its environments"
            )
        if wave.name in wave_names:
            raise ConfigError(f"{path}: field 'waves[{w}].name': {wave.name!r} names two waves; each wave needs its own")
        wave_names.add(wave.name)
        for e, name in enumerate(wave.environments):
            field = f"field 'waves[{w}].environments[{e}]'"
            if name not in by_name:
                raise ConfigError(
                    f"{path}: {field}: no environment has stage_name {name!r}{did_you_mean(name, by_name)} "
                    f"(environments: {known})"
                )
            file, config = by_name[name]
            if config.sandbox:
                raise ConfigError(
                    f"{path}: {field}: {name} is a sandbox ('sandbox: true' in {file}); sandboxes are deployed "
                    "from a laptop with `make deploy` and never by the pipeline"
                )
            if config.account is None:
                raise ConfigError(
                    f"{path}: {field}: {name} is environment-agnostic (account and region are null in {file}); "
                    "the pipeline deploys only to a named account and region: set both there"
                )
            if name in placed:
                raise ConfigError(f"{path}: {field}: {name} is already deployed by wave {placed[name]!r}")
            placed[name] = wave.name
            if wave.smoke_test and not config.api.enabled:
                raise ConfigError(
                    f"{path}: field 'waves[{w}].smoke_test': the smoke test calls {name}'s API, which is turned off "
                    f"('api.enabled: false' in {file}); set smoke_test: false for this wave or turn the API on"
                )
            if wave.smoke_test and pipeline.tooling.account not in config.api.invoker_accounts:
                raise ConfigError(
                    f"{path}: field 'waves[{w}].smoke_test': the smoke test calls {name}'s API from the tooling "
                    f"account {pipeline.tooling.account}; add it to 'api.invoker_accounts' in {file}"
                )
