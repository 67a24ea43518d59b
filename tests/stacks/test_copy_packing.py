"""Properties of the packing that checks whether the streaming models' copies fit the instances."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from stacks.catalog_rules import instances_needed
from stacks.gpu_instances import GPU_INSTANCES

INSTANCES = st.sampled_from(sorted(GPU_INSTANCES)).map(GPU_INSTANCES.get)


def copies_for(instance):
    return st.lists(
        st.tuples(st.integers(1, instance.accelerators), st.integers(1024, instance.host_memory_mib)),
        max_size=12,
    )


@given(INSTANCES.flatmap(lambda i: st.tuples(st.just(i), copies_for(i))))
def test_never_fewer_instances_than_the_gpus_or_memory_need(case):
    instance, copies = case
    needed = instances_needed(instance, copies)
    assert needed >= math.ceil(sum(g for g, _ in copies) / instance.accelerators)
    assert needed >= math.ceil(sum(m for _, m in copies) / instance.host_memory_mib)


@given(INSTANCES.flatmap(lambda i: st.tuples(st.just(i), copies_for(i))))
def test_never_more_instances_than_copies(case):
    instance, copies = case
    assert instances_needed(instance, copies) <= len(copies)


@given(INSTANCES.flatmap(lambda i: st.tuples(st.just(i), st.integers(1, i.accelerators), st.integers(0, 12))))
def test_copies_of_one_shape_fill_each_instance_before_the_next(case):
    instance, gpus, count = case
    per_instance = instance.accelerators // gpus
    assert instances_needed(instance, [(gpus, 1024)] * count) == math.ceil(count / per_instance)
