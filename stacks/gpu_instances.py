"""The GPU instance types a model may be served on, with what one instance offers.

Figures per instance, from AWS:
- accelerator count, and host memory: "Amazon EC2 accelerated computing instance specifications"
  (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html) and the SageMaker AI pricing
  page's instance table (https://aws.amazon.com/sagemaker/ai/pricing/), which lists the same ml.*
  sizes;
- total accelerator memory in MiB: the same EC2 page; where AWS's own SageMaker SDK table
  (sagemaker-core's `image_uri_config/instance_gpu_info.json`) lists the instance, its figure,
  which tests/scripts/test_gpu_instances.py checks. It lists ml.g5.48xlarge at 183104 MiB (the
  memory usable by models), below the EC2 page's 8 x 24 GiB; the lower figure is kept.

Synth validates every model against this table (stacks/catalog_rules.py): an instance type that
is not here is refused, with the nearest ones suggested, rather than failing a deploy
15-30 minutes later.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

GIB = 1024


@dataclass(frozen=True)
class GpuInstance:
    instance_type: str
    accelerators: int
    accelerator_memory_mib: int
    host_memory_mib: int


def _family(family: str, per_gpu_gib: int, sizes: dict[str, tuple[int, int]]) -> dict[str, GpuInstance]:
    """`sizes`: size -> (GPUs, host memory GiB)."""
    return {
        f"ml.{family}.{size}": GpuInstance(f"ml.{family}.{size}", gpus, gpus * per_gpu_gib * GIB, host_gib * GIB)
        for size, (gpus, host_gib) in sizes.items()
    }


_G_SIZES = {  # g5 and g6 share their shapes: NVIDIA A10G and L4, 24 GiB each.
    "xlarge": (1, 16),
    "2xlarge": (1, 32),
    "4xlarge": (1, 64),
    "8xlarge": (1, 128),
    "16xlarge": (1, 256),
    "12xlarge": (4, 192),
    "24xlarge": (4, 384),
    "48xlarge": (8, 768),
}
_G6E_SIZES = {  # NVIDIA L40S, 48 GiB each.
    "xlarge": (1, 32),
    "2xlarge": (1, 64),
    "4xlarge": (1, 128),
    "8xlarge": (1, 256),
    "16xlarge": (1, 512),
    "12xlarge": (4, 384),
    "24xlarge": (4, 768),
    "48xlarge": (8, 1536),
}

GPU_INSTANCES: dict[str, GpuInstance] = {
    **_family("g5", 24, _G_SIZES),
    **_family("g6", 24, _G_SIZES),
    **_family("g6e", 48, _G6E_SIZES),
    **_family("p4d", 40, {"24xlarge": (8, 1152)}),  # NVIDIA A100 40 GB
    **_family("p4de", 80, {"24xlarge": (8, 1152)}),  # NVIDIA A100 80 GB
    **_family("p5", 80, {"48xlarge": (8, 2048)}),  # NVIDIA H100 80 GB
}
GPU_INSTANCES["ml.g5.48xlarge"] = replace(GPU_INSTANCES["ml.g5.48xlarge"], accelerator_memory_mib=183104)


class UnknownInstanceType(ValueError):
    pass


def gpu_instance(instance_type: str) -> GpuInstance:
    """The instance's figures, or UnknownInstanceType naming the nearest supported types."""
    try:
        return GPU_INSTANCES[instance_type]
    except KeyError:
        nearest = difflib.get_close_matches(instance_type, GPU_INSTANCES, n=3, cutoff=0.6)
        hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
        raise UnknownInstanceType(
            f"not a supported GPU instance type{hint} (supported: the ml.g5, ml.g6, ml.g6e, ml.p4d, "
            "ml.p4de and ml.p5 sizes listed in stacks/gpu_instances.py)"
        ) from None
