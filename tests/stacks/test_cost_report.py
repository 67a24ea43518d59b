"""`make cost` on the shipped configs: hand-computed instance figures, and the README in step."""

from __future__ import annotations

import pytest

from ops.cost import BilledResources, PriceTable, estimate, render_markdown
from tests.stacks.conftest import ROOT, STAGE_NAMES

# By hand, from config/*.yaml and ops/prices.yaml (730 hours a month):
#   Dev      idle: nothing held;            maximum: (1 async + 4 streaming) x $1.694 x 730 (eu-west-1)
#   PreProd  idle: nothing held;            maximum: (1 async + 2 streaming) x $7.927 x 730
#   Prod     idle: 1 warm streaming x $7.927 x 730; maximum: (4 async + 4 streaming) x $7.927 x 730
INSTANCE_COST_BY_HAND = {
    "Dev": (0.0, 5 * 1.694 * 730),
    "PreProd": (0.0, 3 * 7.927 * 730),
    "Prod": (7.927 * 730, 8 * 7.927 * 730),
}


@pytest.fixture(scope="module")
def reports(synthesized):
    prices = PriceTable.load()
    return {
        name: estimate(
            synthesized.stages[name].config, BilledResources.from_assembly(synthesized.assembly_dir, name), prices
        )
        for name in STAGE_NAMES
    }


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_instance_cost_of_each_shipped_environment_matches_the_hand_computed_figures(reports, stage):
    report = reports[stage]
    idle, maximum = INSTANCE_COST_BY_HAND[stage]
    assert report.idle_monthly - report.fixed_idle_monthly == pytest.approx(idle)
    assert report.maximum_monthly - report.fixed_idle_monthly == pytest.approx(maximum)


def test_the_readme_shows_what_make_cost_prints_for_the_shipped_configs(reports):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tables = render_markdown([reports[name] for name in STAGE_NAMES])
    assert tables in readme, "README.md's cost tables are stale: run `python -m ops cost --write-readme` after `make synth`"
