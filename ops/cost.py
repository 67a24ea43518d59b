"""`make cost`: what each environment costs idle, per active GPU hour, per wake, and at most.

Instance counts come from the config (ops.capacity); everything else an idle environment pays for
(keys, alarms, dashboards) is counted in the templates `make synth` wrote, so the report describes
what actually ships. Prices come from the pinned table in ops/prices.yaml.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ops.capacity import InstanceNeed, instance_needs
from stacks.config import EnvironmentConfig

PRICES = Path(__file__).with_name("prices.yaml")
# Regions whose prices stand in for an environment-agnostic config (deployed wherever the
# credentials point); the report says so.
AGNOSTIC_REGION = "us-east-1"


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    hours_per_month: int
    hosting: dict[str, dict[str, float]]
    fixed_monthly: dict[str, float]
    per_gb_month: dict[str, float]
    wake_minutes: float
    metric_delay_minutes: float

    @classmethod
    def load(cls, path: Path = PRICES) -> PriceTable:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            as_of=str(data["as_of"]),
            hours_per_month=int(data["hours_per_month"]),
            hosting=data["sagemaker_hosting_per_hour"],
            fixed_monthly=data["fixed_monthly"],
            per_gb_month=data["per_gb_month"],
            wake_minutes=float(data["wake_minutes"]),
            metric_delay_minutes=float(data["metric_delay_minutes"]),
        )

    def hourly(self, region: str, instance_type: str) -> float | None:
        return self.hosting.get(region, {}).get(instance_type)


@dataclass(frozen=True)
class BilledResources:
    """What an idle environment's templates create that bills by the month."""

    kms_keys: int = 0
    alarms: int = 0
    dashboards: int = 0
    pitr_tables: int = 0
    log_groups: dict[str, int] = field(default_factory=dict)  # log group logical id -> retention days

    @classmethod
    def from_templates(cls, templates: list[dict]) -> BilledResources:
        counts: Counter[str] = Counter()
        log_groups: dict[str, int] = {}
        for template in templates:
            for logical_id, resource in template.get("Resources", {}).items():
                kind, properties = resource["Type"], resource.get("Properties", {})
                counts[kind] += 1
                if kind == "AWS::ApplicationAutoScaling::ScalingPolicy" and properties.get("PolicyType") == (
                    "TargetTrackingScaling"
                ):
                    counts["target-tracking alarms"] += 2
                if kind == "AWS::DynamoDB::Table" and properties.get("PointInTimeRecoverySpecification", {}).get(
                    "PointInTimeRecoveryEnabled"
                ):
                    counts["pitr"] += 1
                if kind == "AWS::Logs::LogGroup":
                    log_groups[logical_id] = int(properties.get("RetentionInDays", 0))
        return cls(
            kms_keys=counts["AWS::KMS::Key"],
            alarms=counts["AWS::CloudWatch::Alarm"] + counts["target-tracking alarms"],
            dashboards=counts["AWS::CloudWatch::Dashboard"],
            pitr_tables=counts["pitr"],
            log_groups=log_groups,
        )

    @classmethod
    def from_assembly(cls, cloud_assembly: Path, stage_name: str) -> BilledResources:
        stage_dir = cloud_assembly / f"assembly-{stage_name}"
        paths = sorted(stage_dir.glob("*.template.json"))
        if not paths:
            raise FileNotFoundError(f"{stage_dir}: no templates; run `make synth` first")
        return cls.from_templates([json.loads(path.read_text(encoding="utf-8")) for path in paths])


@dataclass(frozen=True)
class EndpointCost:
    need: InstanceNeed
    hourly: float | None  # None: no pinned price for this region and type

    def monthly(self, instances: int, hours: int) -> float | None:
        return None if self.hourly is None else self.hourly * instances * hours


@dataclass(frozen=True)
class CostReport:
    stage: str
    region: str
    region_assumed: bool
    prices: PriceTable
    endpoints: list[EndpointCost]
    resources: BilledResources

    @property
    def fixed_idle_monthly(self) -> float:
        fixed = self.prices.fixed_monthly
        return (
            self.resources.kms_keys * fixed["kms_key"]
            + self.resources.alarms * fixed["alarm"]
            + self.resources.dashboards * fixed["dashboard"]
        )

    def _sum(self, instances_of) -> float | None:
        total = 0.0
        for endpoint in self.endpoints:
            monthly = endpoint.monthly(instances_of(endpoint.need), self.prices.hours_per_month)
            if monthly is None:
                if instances_of(endpoint.need):
                    return None
                continue
            total += monthly
        return total

    @property
    def idle_monthly(self) -> float | None:
        instances = self._sum(lambda need: need.minimum)
        return None if instances is None else instances + self.fixed_idle_monthly

    @property
    def maximum_monthly(self) -> float | None:
        instances = self._sum(lambda need: need.maximum)
        return None if instances is None else instances + self.fixed_idle_monthly

    def idle_tail_minutes(self, endpoint: EndpointCost) -> float | None:
        """How long an instance bills after the last request: the configured idle minutes, plus the
        delay before SageMaker's one-minute datapoints reach the alarm."""
        if endpoint.need.idle_minutes is None:
            return None
        return endpoint.need.idle_minutes + self.prices.metric_delay_minutes

    def wake(self, endpoint: EndpointCost) -> float | None:
        """One instance from zero: the start, then the idle tail after the last request."""
        tail = self.idle_tail_minutes(endpoint)
        if endpoint.hourly is None or tail is None:
            return None
        return endpoint.hourly * (self.prices.wake_minutes + tail) / 60


def estimate(config: EnvironmentConfig, resources: BilledResources, prices: PriceTable) -> CostReport:
    region = config.region or AGNOSTIC_REGION
    return CostReport(
        stage=config.stage_name,
        region=region,
        region_assumed=config.region is None,
        prices=prices,
        endpoints=[EndpointCost(need, prices.hourly(region, need.instance_type)) for need in instance_needs(config)],
        resources=resources,
    )


README_BEGIN = "<!-- make cost: begin -->"
README_END = "<!-- make cost: end -->"


def with_readme_section(readme: str, section: str) -> str:
    """The README with its cost tables replaced by `section` (`python -m ops cost --write-readme`)."""
    head, found, rest = readme.partition(README_BEGIN)
    _, found_end, tail = rest.partition(README_END)
    if not (found and found_end):
        raise ValueError(f"README.md has no {README_BEGIN} ... {README_END} section")
    return f"{head}{README_BEGIN}\n{section}\n{README_END}{tail}"


def _per_hour(monthly: float | None, hours: int) -> float | None:
    return None if monthly is None else monthly / hours


def _minutes(value: float | None) -> str:
    return "none (held warm)" if value is None else f"{value:g} min"


def _money(value: float | None, decimals: int = 2) -> str:
    return "no pinned price" if value is None else f"${value:,.{decimals}f}"


def render_markdown(reports: list[CostReport]) -> str:
    """The README's cost section tables; `make cost` prints the same."""
    prices = reports[0].prices
    lines = [
        f"Prices: on-demand USD from ops/prices.yaml (as of {prices.as_of}); "
        f"a month is {prices.hours_per_month} hours; a wake is {prices.wake_minutes:g} minutes of start "
        f"plus the idle tail (the model's `idle_minutes` and {prices.metric_delay_minutes:g} minute(s) of metric delay).",
        "",
        "| environment | region | idle per hour | idle per month | at maximum per month | keys, alarms, dashboards per month |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for report in reports:
        region = f"{report.region} (assumed)" if report.region_assumed else report.region
        resources = report.resources
        lines.append(
            f"| {report.stage} | {region} | {_money(_per_hour(report.idle_monthly, prices.hours_per_month))} | "
            f"{_money(report.idle_monthly)} | {_money(report.maximum_monthly)} | "
            f"{_money(report.fixed_idle_monthly)} ({resources.kms_keys} keys, {resources.alarms} alarms, "
            f"{resources.dashboards} dashboard{'' if resources.dashboards == 1 else 's'}) |"
        )
    lines += [
        "",
        "| environment | endpoint | instance type | instances (min-max) | per GPU-instance hour | idle tail | per wake |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for report in reports:
        for endpoint in report.endpoints:
            need = endpoint.need
            lines.append(
                f"| {report.stage} | {need.endpoint} | {need.instance_type} | {need.minimum}-{need.maximum} | "
                f"{_money(endpoint.hourly, 3)} | {_minutes(report.idle_tail_minutes(endpoint))} | "
                f"{_money(report.wake(endpoint)) if need.idle_minutes is not None else 'never at zero'} |"
            )
    per_gb = prices.per_gb_month
    lines += ["", "Not in the figures above because they grow with data, not with time:"]
    for report in reports:
        retention = max(report.resources.log_groups.values(), default=0)
        lines.append(
            f"- {report.stage}: point-in-time recovery on {report.resources.pitr_tables} table(s) at "
            f"${per_gb['dynamodb_pitr']:.2f} per GB-month; {len(report.resources.log_groups)} log groups kept up to "
            f"{retention} days at ${per_gb['log_storage']:.2f} per GB-month (1 GB of logs a day holds {retention} GB)."
        )
    return "\n".join(lines)
