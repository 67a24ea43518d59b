"""Quota preflight: can the account hold this environment at its maximum size?

SageMaker limits instances per type across all endpoints of an account and region, in Service
Quotas entries named "<instance type> for endpoint usage" (service code `sagemaker`); GPU types
default to 0 in new accounts, and CloudFormation finds out only when it creates the endpoint,
15-30 minutes into a deploy. This reads the quotas, subtracts what other endpoints of the account
already run, and compares the rest with what the environment needs at maximum.

`ListServiceQuotas` returns only quotas with an applied value; quotas never raised appear only in
`ListAWSDefaultServiceQuotas` (Service Quotas API reference), so both are read, applied values
winning.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from ops.capacity import InstanceNeed, totals_by_instance_type

SERVICE_CODE = "sagemaker"
QUOTA_SUFFIX = " for endpoint usage"


@dataclass(frozen=True)
class Quota:
    code: str
    value: float


@dataclass(frozen=True)
class QuotaCheck:
    instance_type: str
    needed: int
    quota: Quota | None
    in_use_elsewhere: int

    @property
    def available(self) -> int:
        return 0 if self.quota is None else max(0, math.floor(self.quota.value) - self.in_use_elsewhere)

    @property
    def short_by(self) -> int:
        return max(0, self.needed - self.available)

    def increase_request(self, region: str) -> str:
        """The request to file: enough for this environment on top of what already runs."""
        if self.quota is None:
            return f"# {self.instance_type} has no endpoint quota in {region}: it is not offered there for endpoints"
        return (
            f"aws service-quotas request-service-quota-increase --region {region} --service-code {SERVICE_CODE} "
            f"--quota-code {self.quota.code} --desired-value {self.needed + self.in_use_elsewhere}"
        )


def endpoint_quotas(service_quotas) -> dict[str, Quota]:
    """Instance type -> its endpoint-usage quota in the client's account and region."""
    found: dict[str, Quota] = {}
    for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
        for page in service_quotas.get_paginator(operation).paginate(ServiceCode=SERVICE_CODE):
            for quota in page["Quotas"]:
                name = quota["QuotaName"]
                if name.startswith("ml.") and name.endswith(QUOTA_SUFFIX):
                    found[name.removesuffix(QUOTA_SUFFIX)] = Quota(quota["QuotaCode"], float(quota["Value"]))
    return found


def instances_in_use(sagemaker, *, own_endpoints: set[str]) -> Counter[str]:
    """Instances per type that the account's other endpoints hold now. The environment's own
    endpoints, by their exact names, are left out: its needs already count them. An endpoint of
    another environment whose prefix extends this one's is not its own, and neither is one it
    is replacing after an instance type change (CloudFormation deletes the old endpoint only
    after the new one is in service, so both hold instances during the deploy)."""
    in_use: Counter[str] = Counter()
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for summary in page["Endpoints"]:
            name = summary["EndpointName"]
            if name in own_endpoints:
                continue
            endpoint = sagemaker.describe_endpoint(EndpointName=name)
            variants = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
            instance_types = {v["VariantName"]: v.get("InstanceType") for v in variants["ProductionVariants"]}
            for variant in endpoint.get("ProductionVariants", []):
                instance_type = instance_types.get(variant["VariantName"])
                if instance_type:
                    in_use[instance_type] += variant.get("CurrentInstanceCount", 0)
    return in_use


def check(totals: dict[str, InstanceNeed], quotas: dict[str, Quota], in_use: Counter[str]) -> list[QuotaCheck]:
    return [
        QuotaCheck(
            instance_type=instance_type,
            needed=need.maximum,
            quota=quotas.get(instance_type),
            in_use_elsewhere=in_use.get(instance_type, 0),
        )
        for instance_type, need in totals.items()
    ]


def preflight(needs: list[InstanceNeed], *, service_quotas, sagemaker) -> list[QuotaCheck]:
    """The whole check for one environment, with clients for its account and region."""
    return check(
        totals_by_instance_type(needs),
        endpoint_quotas(service_quotas),
        instances_in_use(sagemaker, own_endpoints={need.endpoint_name for need in needs if need.endpoint_name}),
    )


def render(stage: str, region: str, checks: list[QuotaCheck]) -> str:
    lines = [f"{stage} ({region}): endpoint instance quotas against the environment at maximum size"]
    lines.append(f"  {'instance type':<18} {'needed':>6} {'quota':>6} {'in use elsewhere':>17} {'short':>6}")
    for item in checks:
        quota = "none" if item.quota is None else f"{item.quota.value:g}"
        lines.append(
            f"  {item.instance_type:<18} {item.needed:>6} {quota:>6} {item.in_use_elsewhere:>17} {item.short_by:>6}"
        )
    short = [item for item in checks if item.short_by]
    if not short:
        lines.append("All quotas suffice.")
        return "\n".join(lines)
    lines.append("Short. File these requests (or lower the environment's maximum capacity), then run again:")
    lines.extend(f"  {item.increase_request(region)}" for item in short)
    return "\n".join(lines)
