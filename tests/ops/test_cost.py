"""`make cost`: idle, maximum and wake figures from instance bounds, templates and pinned prices."""

from __future__ import annotations

import pytest

from ops.capacity import InstanceNeed
from ops.cost import BilledResources, CostReport, EndpointCost, PriceTable

PRICES = PriceTable.load()


def report(*endpoints: EndpointCost, resources: BilledResources = BilledResources()) -> CostReport:
    return CostReport("Test", "eu-west-1", False, PRICES, list(endpoints), resources)


def endpoint(minimum: int, maximum: int, hourly: float | None = 2.0, idle_minutes: int | None = 10) -> EndpointCost:
    return EndpointCost(InstanceNeed("async", "ml.g5.2xlarge", minimum, maximum, idle_minutes), hourly)


def test_an_environment_at_zero_pays_only_for_keys_alarms_and_dashboards():
    resources = BilledResources(kms_keys=3, alarms=12, dashboards=1)
    assert report(endpoint(0, 4), resources=resources).idle_monthly == pytest.approx(3 * 1.00 + 12 * 0.10 + 3.00)


def test_instances_held_at_minimum_bill_every_hour_of_the_month():
    assert report(endpoint(1, 2), endpoint(0, 1)).idle_monthly == pytest.approx(2.0 * 730)


def test_the_worst_case_runs_every_endpoint_at_its_maximum():
    assert report(endpoint(0, 4), endpoint(1, 2, hourly=3.0)).maximum_monthly == pytest.approx((4 * 2.0 + 2 * 3.0) * 730)


def test_a_wake_bills_the_start_and_the_configured_idle_tail():
    cold = endpoint(0, 1, hourly=6.0, idle_minutes=10)
    assert report(cold).wake(cold) == pytest.approx(6.0 * (10 + 10 + 1) / 60)


def test_a_shorter_idle_tail_makes_a_wake_cheaper():
    short, long = endpoint(0, 1, idle_minutes=5), endpoint(0, 1, idle_minutes=30)
    assert report(short).wake(short) < report(long).wake(long)


def test_an_endpoint_held_warm_has_no_wake():
    warm = endpoint(1, 2, idle_minutes=None)
    assert report(warm).wake(warm) is None


def test_a_missing_price_is_reported_rather_than_guessed():
    unpriced = endpoint(1, 1, hourly=None)
    assert report(unpriced).idle_monthly is None
    assert report(unpriced).wake(unpriced) is None


def test_an_unpriced_endpoint_at_zero_does_not_hide_the_idle_figure():
    assert report(endpoint(0, 1, hourly=None)).idle_monthly == 0.0


def test_target_tracking_policies_bill_the_two_alarms_application_auto_scaling_creates():
    template = {
        "Resources": {
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
            "Tracking": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {"PolicyType": "TargetTrackingScaling"}},
            "Step": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {"PolicyType": "StepScaling"}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}},
            },
        }
    }
    resources = BilledResources.from_templates([template])
    assert (resources.alarms, resources.kms_keys, resources.pitr_tables) == (3, 1, 1)


def test_every_pinned_region_prices_the_same_instance_types():
    instance_types = {region: set(prices) for region, prices in PRICES.hosting.items()}
    assert len({frozenset(types) for types in instance_types.values()}) == 1, instance_types
