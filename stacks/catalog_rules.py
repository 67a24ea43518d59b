"""Rules that span several fields of the model catalog: checked at synth, so that a catalog that
cannot deploy stops with a message instead of a failed deployment 15-30 minutes later.

Each problem names the field to change, what is wrong and, where one exists, the near miss.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stacks import serving_images
from stacks.gpu_instances import GpuInstance, UnknownInstanceType, gpu_instance

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig, ModelConfig

_MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# vLLM (LMI's engine, and AWS's vLLM container) takes this share of each GPU by default
# (gpu_memory_utilization 0.9) for the weights and the KV cache together.
WEIGHTS_SHARE = 0.9


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    got: object


def _did_you_mean(value: str, choices) -> str:
    near = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def catalog_problems(config: EnvironmentConfig) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    defaults = [name for name, model in config.models.items() if model.default]
    if len(config.models) > 1 and len(defaults) != 1:
        problems.append(
            FieldProblem(
                "models",
                "mark exactly one model with 'default: true' (requests that name no model go to it)",
                defaults,
            )
        )
    for name, model in config.models.items():
        at = f"models.{name}"
        if not _MODEL_NAME.match(name):
            problems.append(
                FieldProblem(at, "a model name is 1-20 lowercase letters, digits or '-', starting with a letter", name)
            )
        problems += _source_problems(config, at, model)
        problems += _image_problems(config, at, model)
        problems += _parallelism_problems(at, model)
        if model.async_ is not None:
            problems += _fit_problems(f"{at}.async.instance_type", model.async_.instance_type, at, model)
    problems += _streaming_problems(config)
    return problems


def _source_problems(config: EnvironmentConfig, at: str, model: ModelConfig) -> list[FieldProblem]:
    hub = model.source.hub
    if hub is not None and hub.revision is None and not config.sandbox:
        return [
            FieldProblem(
                f"{at}.source.hub.revision",
                "required outside a sandbox environment: pin the commit sha you validated, so that every "
                "deployment serves the same weights and code (or mirror the model into S3 with `llm-infer mirror`)",
                None,
            )
        ]
    return []


def _image_problems(config: EnvironmentConfig, at: str, model: ModelConfig) -> list[FieldProblem]:
    container = model.container
    if container.image_uri is not None:
        if container.version is not None:
            return [FieldProblem(f"{at}.container.version", "set either 'version' or 'image_uri', not both", container.version)]
        return []
    known = serving_images.versions(container.framework)
    if container.version is not None and container.version not in known:
        return [
            FieldProblem(
                f"{at}.container.version",
                f"not a {container.framework} version in stacks/serving_images.json (newest "
                f"{serving_images.latest_version(container.framework)})" + _did_you_mean(container.version, known),
                container.version,
            )
        ]
    image = serving_images.serving_image(container.framework, container.version)
    if config.region is not None and image.registry_account(config.region) is None:
        return [
            FieldProblem(
                "region",
                f"AWS publishes no {container.framework} {image.version} image ({image.repository}) in this region, "
                f"which model {at.split('.', 1)[1]!r} needs" + _did_you_mean(config.region, image.registries)
                + "; choose another region, or a pinned 'container.image_uri' in your own ECR",
                config.region,
            )
        ]
    return []


def _parallelism_problems(at: str, model: ModelConfig) -> list[FieldProblem]:
    degree, gpus = model.tensor_parallel_degree, model.resources.gpus
    if gpus % degree:
        return [
            FieldProblem(
                f"{at}.container.tensor_parallel_degree",
                f"must divide the copy's GPUs (resources.gpus = {gpus}): the model is sharded evenly across them",
                degree,
            )
        ]
    return []


def _instance(field: str, instance_type: str) -> GpuInstance | FieldProblem:
    try:
        return gpu_instance(instance_type)
    except UnknownInstanceType as err:
        return FieldProblem(field, str(err), instance_type)


def _fit_problems(field: str, instance_type: str, at: str, model: ModelConfig) -> list[FieldProblem]:
    instance = _instance(field, instance_type)
    if isinstance(instance, FieldProblem):
        return [instance]
    problems = []
    if model.resources.gpus > instance.accelerators:
        problems.append(
            FieldProblem(
                f"{at}.resources.gpus",
                f"{instance_type} has {instance.accelerators} GPU(s); a copy cannot need more",
                model.resources.gpus,
            )
        )
    weights = model.resources.weights_gib
    copy_gpu_gib = model.resources.gpus * instance.accelerator_memory_mib / instance.accelerators / 1024
    if weights is not None and model.resources.gpus <= instance.accelerators and weights > WEIGHTS_SHARE * copy_gpu_gib:
        problems.append(
            FieldProblem(
                f"{at}.resources.weights_gib",
                f"the weights do not fit the copy's GPU memory: {model.resources.gpus} GPU(s) of {instance_type} "
                f"hold {copy_gpu_gib:g} GiB, of which the serving engine takes {WEIGHTS_SHARE:.0%} "
                f"({WEIGHTS_SHARE * copy_gpu_gib:.1f} GiB) for weights and KV cache; give the copy more GPUs "
                "(resources.gpus, with tensor_parallel_degree) or pick an instance with more GPU memory",
                weights,
            )
        )
    if model.resources.memory_mb > instance.host_memory_mib:
        problems.append(
            FieldProblem(
                f"{at}.resources.memory_mb",
                f"{instance_type} has {instance.host_memory_mib} MiB of host memory; a copy cannot need more",
                model.resources.memory_mb,
            )
        )
    return problems


def _streaming_problems(config: EnvironmentConfig) -> list[FieldProblem]:
    streaming = config.streaming_models
    endpoint = config.streaming_endpoint
    if not streaming:
        return []
    if endpoint is None:
        return [
            FieldProblem(
                "streaming_endpoint",
                f"required because {', '.join(streaming)} stream(s): set its instance_type and max_instances",
                None,
            )
        ]
    field = "streaming_endpoint.instance_type"
    problems = []
    # Every framework streams: the front normalises each one's chat stream (docs/container-formats.md);
    # only /v1/generate/stream needs a token stream (lmi, tgi), and it says so for a vllm model.
    for name, model in streaming.items():
        problems += _fit_problems(field, endpoint.instance_type, f"models.{name}", model)
    if problems:
        return list({(p.field, p.message): p for p in problems}.values())
    instance = gpu_instance(endpoint.instance_type)
    # Each component is created with at least one copy (SageMaker refuses CopyCount 0), and the
    # minimum copies of an endpoint that never scales to zero must all fit at once.
    copies = {
        name: (1 if endpoint.scale_to_zero else model.streaming.min_copies) for name, model in streaming.items()
    }
    needed = instances_needed(
        instance,
        [(model.resources.gpus, model.resources.memory_mb) for name, model in streaming.items() for _ in range(copies[name])],
    )
    if needed > endpoint.max_instances:
        problems.append(
            FieldProblem(
                "streaming_endpoint.max_instances",
                f"the streaming models' minimum copies ({', '.join(f'{n}: {c}' for n, c in copies.items())}) "
                f"need {needed} {endpoint.instance_type} instance(s)",
                endpoint.max_instances,
            )
        )
    # A model or container update starts every copy of a component again beside the old one before
    # stopping it (README, "Model updates on the streaming endpoint"), and CloudFormation updates
    # the components of one deployment in parallel: room for every model at max_copies, twice.
    updating = instances_needed(
        instance,
        [(m.resources.gpus, m.resources.memory_mb) for m in streaming.values() for _ in range(2 * m.streaming.max_copies)],
    )
    if updating > endpoint.max_instances:
        problems.append(
            FieldProblem(
                "streaming_endpoint.max_instances",
                f"a model update starts each copy again beside the old one before stopping it: the streaming "
                f"models at max_copies ({', '.join(f'{n}: {m.streaming.max_copies}' for n, m in streaming.items())}), "
                f"twice, need {updating} {endpoint.instance_type} instance(s)",
                endpoint.max_instances,
            )
        )
    return problems


def minimum_streaming_instances(config: EnvironmentConfig) -> int:
    """Instances the streaming endpoint keeps when it may not scale to zero: every model's minimum
    copies at once."""
    copies = [
        (model.resources.gpus, model.resources.memory_mb)
        for model in config.streaming_models.values()
        for _ in range(model.streaming.min_copies)
    ]
    return instances_needed(gpu_instance(config.streaming_endpoint.instance_type), copies)


def instances_needed(instance: GpuInstance, copies: list[tuple[int, int]]) -> int:
    """Instances that hold `copies` (GPUs, memory MiB), placed first-fit, largest first, as whole copies."""
    free: list[list[int]] = []
    for gpus, memory in sorted(copies, reverse=True):
        for room in free:
            if room[0] >= gpus and room[1] >= memory:
                room[0] -= gpus
                room[1] -= memory
                break
        else:
            free.append([instance.accelerators - gpus, instance.host_memory_mib - memory])
    return len(free)
