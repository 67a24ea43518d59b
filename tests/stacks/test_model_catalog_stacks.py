"""A catalog with several async and streaming models, an S3 source with a KMS key and pinned Hub
sources: the right resources per model, permissions scoped to them, images per region from AWS's
table, network isolation with S3, and one model's change leaves the others' resources untouched."""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk import App, Stage
from aws_cdk.assertions import Template

from stacks.config import ConfigError, parse_environment_config
from stacks.nag import nag_packs
from stacks.serving_images import serving_image
from stacks.stage import InferenceStage
from tests.stacks.conftest import cdk_context

KEY_ARN = "arn:aws:kms:us-east-1:111111111111:key/11111111-2222-4333-8444-555555555555"
CATALOG = {
    "stage_name": "Catalog",
    "account": "111111111111",
    "region": "us-east-1",
    "resource_prefix": "llm-cat",
    "alarms": {"email": ["oncall@example.com"]},
    "models": {
        "chat": {
            "default": True,
            "source": {"hub": {"id": "Qwen/Qwen2.5-7B-Instruct", "revision": "a09a35458c702b33eeacc393d103063234e8bc28"}},
            "resources": {"gpus": 1, "memory_mb": 16384},
            "async": {"instance_type": "ml.g5.2xlarge"},
            "streaming": {"max_copies": 2},
        },
        "coder": {
            "source": {"s3": {"uri": "s3://acme-models/qwen-coder/0123abcd/", "kms_key_arn": KEY_ARN}},
            "resources": {"gpus": 1, "memory_mb": 16384},
            "async": {"instance_type": "ml.g6.2xlarge"},
            "streaming": {"max_copies": 2},
        },
        "summarizer": {
            "source": {"hub": {"id": "Qwen/Qwen2.5-1.5B-Instruct", "revision": "989aa7980e4cf806f80c7fef2b1adb7bc71aa306"}},
            "container": {"framework": "vllm"},
            "resources": {"gpus": 1, "memory_mb": 8192},
            "async": {"instance_type": "ml.g6e.xlarge"},
        },
        "legacy": {
            "source": {"hub": {"id": "Qwen/Qwen2.5-1.5B-Instruct", "revision": "989aa7980e4cf806f80c7fef2b1adb7bc71aa306"}},
            "container": {"framework": "tgi", "version": "3.3.6"},
            "resources": {"gpus": 1, "memory_mb": 8192},
            "streaming": {},
        },
    },
    "streaming_endpoint": {"instance_type": "ml.g5.12xlarge", "max_instances": 3},
}


def config_of(data: dict):
    return parse_environment_config(data, "catalog-test.yaml")


def stage_of(data: dict) -> InferenceStage:
    return InferenceStage(App(context=cdk_context()), config=config_of(data))


@pytest.fixture(scope="module")
def catalog_stage() -> InferenceStage:
    return stage_of(CATALOG)


@pytest.fixture(scope="module")
def async_template(catalog_stage) -> Template:
    return Template.from_stack(catalog_stage.async_inference)


@pytest.fixture(scope="module")
def streaming_template(catalog_stage) -> Template:
    return Template.from_stack(catalog_stage.streaming)


@pytest.fixture(scope="module")
def api_template(catalog_stage) -> Template:
    return Template.from_stack(catalog_stage.api)


def resources_under(template: Template, model_name: str) -> dict[str, dict]:
    """Every resource whose construct path is inside the model's own construct."""
    return {
        logical_id: resource
        for logical_id, resource in template.to_json()["Resources"].items()
        if f"/{model_name}/" in resource.get("Metadata", {}).get("aws:cdk:path", "")
    }


def model_resource(template: Template, model_name: str) -> dict:
    (model,) = [r for r in resources_under(template, model_name).values() if r["Type"] == "AWS::SageMaker::Model"]
    return model


def execution_policy(template: Template, model_name: str) -> list[dict]:
    (policy,) = [r for r in resources_under(template, model_name).values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    return policy["Properties"]["PolicyDocument"]["Statement"]


# --- resources per model ------------------------------------------------------------------------


def test_each_async_model_has_its_own_endpoint_and_scaling(async_template):
    endpoints = {e["Properties"]["EndpointName"] for e in async_template.find_resources("AWS::SageMaker::Endpoint").values()}
    assert {name.rsplit("-", 2)[0] for name in endpoints} == {"llm-cat-chat", "llm-cat-coder", "llm-cat-summarizer"}
    targets = async_template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert sorted(t["Properties"]["ResourceId"] for t in targets.values()) == sorted(
        f"endpoint/{name}/variant/AllTraffic" for name in endpoints
    )
    assert all(t["Properties"]["MinCapacity"] == 0 for t in targets.values())


def test_each_streaming_model_is_a_component_on_the_one_endpoint(streaming_template):
    (endpoint,) = streaming_template.find_resources("AWS::SageMaker::Endpoint").values()
    components = streaming_template.find_resources("AWS::SageMaker::InferenceComponent").values()
    endpoint_name = endpoint["Properties"]["EndpointName"]
    assert sorted(c["Properties"]["InferenceComponentName"] for c in components) == [
        f"{endpoint_name}-chat",
        f"{endpoint_name}-coder",
        f"{endpoint_name}-legacy",
    ]


def test_async_only_model_gets_no_component_and_streaming_only_no_endpoint(streaming_template, async_template):
    assert resources_under(streaming_template, "summarizer") == {}
    assert resources_under(async_template, "legacy") == {}


# --- sources ------------------------------------------------------------------------------------


def test_s3_source_is_mounted_uncompressed_from_its_prefix(async_template):
    container = model_resource(async_template, "coder")["Properties"]["PrimaryContainer"]
    assert container["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": "s3://acme-models/qwen-coder/0123abcd/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }
    assert container["Environment"]["HF_MODEL_ID"] == "/opt/ml/model"
    assert "HF_REVISION" not in container["Environment"]


@pytest.mark.parametrize("template_name", ["async_template", "streaming_template"])
def test_s3_sourced_model_runs_with_network_isolation(request, template_name):
    template = request.getfixturevalue(template_name)
    assert model_resource(template, "coder")["Properties"]["EnableNetworkIsolation"] is True
    assert model_resource(template, "chat")["Properties"]["EnableNetworkIsolation"] is False


def test_s3_sourced_model_may_read_exactly_its_prefix_and_decrypt_with_its_key(async_template):
    by_sid = {s.get("Sid"): s for s in execution_policy(async_template, "coder")}
    assert by_sid["ReadModelFiles"]["Action"] == "s3:GetObject"
    assert by_sid["ReadModelFiles"]["Resource"] == "arn:aws:s3:::acme-models/qwen-coder/0123abcd/*"
    assert by_sid["ListModelFiles"]["Condition"] == {"StringLike": {"s3:prefix": ["qwen-coder/0123abcd/*"]}}
    assert by_sid["DecryptModelFiles"]["Action"] == "kms:Decrypt"
    assert by_sid["DecryptModelFiles"]["Resource"] == KEY_ARN
    assert "kms:ViaService" in json.dumps(by_sid["DecryptModelFiles"]["Condition"])


def test_hub_sourced_model_reads_no_model_bucket(async_template):
    sids = {s.get("Sid") for s in execution_policy(async_template, "chat")}
    assert not sids & {"ReadModelFiles", "ListModelFiles", "DecryptModelFiles"}


def test_hub_source_is_pinned_in_each_frameworks_own_variables(async_template, streaming_template):
    def environment(template: Template, name: str) -> dict:
        return model_resource(template, name)["Properties"]["PrimaryContainer"]["Environment"]

    lmi = environment(async_template, "chat")
    assert (lmi["HF_MODEL_ID"], lmi["HF_REVISION"]) == ("Qwen/Qwen2.5-7B-Instruct", "a09a35458c702b33eeacc393d103063234e8bc28")
    vllm = environment(async_template, "summarizer")
    assert (vllm["SM_VLLM_MODEL"], vllm["SM_VLLM_REVISION"], vllm["SM_VLLM_TENSOR_PARALLEL_SIZE"]) == (
        "Qwen/Qwen2.5-1.5B-Instruct", "989aa7980e4cf806f80c7fef2b1adb7bc71aa306", "1",
    )
    tgi = environment(streaming_template, "legacy")
    assert (tgi["HF_MODEL_ID"], tgi["HF_MODEL_REVISION"], tgi["SM_NUM_GPUS"]) == (
        "Qwen/Qwen2.5-1.5B-Instruct", "989aa7980e4cf806f80c7fef2b1adb7bc71aa306", "1",
    )


def test_catalog_with_s3_source_and_key_passes_both_nag_packs(catalog_stage):
    for pack in nag_packs(Stage(App(context=cdk_context()), "Scratch")):
        report = pack.validate_scope(catalog_stage)
        assert [v.rule_name for v in report.violations] == []


# --- permissions of the API functions ----------------------------------------------------------


def function_statements(api: Template, service: str) -> list[dict]:
    (function,) = [
        f for f in api.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") == service
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [p for p in api.find_resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_async_api_may_invoke_exactly_the_async_endpoints(api_template, async_template):
    invoke = [s for s in function_statements(api_template, "async_api") if "sagemaker:Invoke" in str(s["Action"])]
    actions = {a for s in invoke for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    # The wake's DescribeEndpoint shares these statements' resources (tests/stacks/test_scale_to_zero.py).
    assert {a for a in actions if a.startswith("sagemaker:Invoke")} == {"sagemaker:InvokeEndpointAsync"}
    resources = json.dumps([s["Resource"] for s in invoke])
    for endpoint in async_template.find_resources("AWS::SageMaker::Endpoint").values():
        assert f"endpoint/{endpoint['Properties']['EndpointName']}" in resources
    assert resources.count("endpoint/") == 3 and "*" not in resources


def test_streaming_front_may_invoke_exactly_the_streaming_components(api_template, streaming_template):
    invoke = [s for s in function_statements(api_template, "streaming") if "sagemaker:Invoke" in str(s["Action"])]
    resources = json.dumps([s["Resource"] for s in invoke])
    for component in streaming_template.find_resources("AWS::SageMaker::InferenceComponent").values():
        assert f"inference-component/{component['Properties']['InferenceComponentName']}" in resources
    assert resources.count("inference-component/") == 3 and "*" not in resources


# --- images per region -------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-1"])
def test_image_uris_match_aws_table_in_each_region(region):
    data = copy.deepcopy(CATALOG)
    data["region"] = region
    data["models"]["coder"]["source"]["s3"]["kms_key_arn"] = KEY_ARN.replace("us-east-1", region)
    stage = stage_of(data)
    templates = {"async": Template.from_stack(stage.async_inference), "streaming": Template.from_stack(stage.streaming)}
    for name, stack, framework, version in (
        ("chat", "async", "lmi", None),
        ("summarizer", "async", "vllm", None),
        ("legacy", "streaming", "tgi", "3.3.6"),
    ):
        image = serving_image(framework, version)
        expected = f"{image.registries[region]}.dkr.ecr.{region}.amazonaws.com/{image.repository}:{image.tag}"
        uri = model_resource(templates[stack], name)["Properties"]["PrimaryContainer"]["Image"]
        rendered = "".join(p if isinstance(p, str) else "amazonaws.com" for p in uri["Fn::Join"][1])
        assert rendered == expected


# --- one model's change leaves the others alone ------------------------------------------------


@pytest.fixture(scope="module")
def changed_stage() -> InferenceStage:
    """The same catalog with the summarizer on another revision and instance, and one more model."""
    data = copy.deepcopy(CATALOG)
    summarizer = data["models"]["summarizer"]
    summarizer["source"]["hub"]["revision"] = "0" * 40
    summarizer["async"]["instance_type"] = "ml.g5.4xlarge"
    data["models"]["extra"] = copy.deepcopy(summarizer)
    return stage_of(data)


@pytest.mark.parametrize("stack", ["async_inference", "streaming"])
@pytest.mark.parametrize("model_name", ["chat", "coder"])
def test_changing_or_adding_a_model_leaves_another_models_resources_as_they_are(catalog_stage, changed_stage, stack, model_name):
    before = resources_under(Template.from_stack(getattr(catalog_stage, stack)), model_name)
    after = resources_under(Template.from_stack(getattr(changed_stage, stack)), model_name)
    assert before, "the model has resources in this stack"
    assert after == before


def _streaming_variant(change: str) -> dict:
    data = copy.deepcopy(CATALOG)
    models = data["models"]
    if change == "changed":
        models["legacy"]["source"]["hub"]["revision"] = "0" * 40
        models["legacy"]["resources"]["memory_mb"] = 12288
    elif change == "added":
        models["second-legacy"] = copy.deepcopy(models["legacy"])
    else:
        del models["legacy"]
    return data


@pytest.fixture(scope="module", params=["changed", "added", "removed"])
def streaming_variant(request) -> Template:
    """The catalog with one streaming model changed, one more streaming model, or one fewer."""
    return Template.from_stack(stage_of(_streaming_variant(request.param)).streaming)


def shared_endpoint(template: Template) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in template.to_json()["Resources"].items()
        if resource["Type"] in ("AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig")
    }


@pytest.mark.parametrize("model_name", ["chat", "coder"])
def test_changing_adding_or_removing_a_streaming_model_leaves_another_components_resources_as_they_are(
    streaming_template, streaming_variant, model_name
):
    before = resources_under(streaming_template, model_name)
    assert before and any(r["Type"] == "AWS::SageMaker::InferenceComponent" for r in before.values())
    assert resources_under(streaming_variant, model_name) == before


def test_with_scale_to_zero_a_streaming_model_change_leaves_the_shared_endpoint_as_it_is(
    streaming_template, streaming_variant
):
    # The endpoint's minimum instances is 0 whatever the catalog: only max_instances shapes it.
    assert shared_endpoint(streaming_variant) == shared_endpoint(streaming_template)


def async_endpoint_names(stage: InferenceStage) -> set[str]:
    endpoints = Template.from_stack(stage.async_inference).find_resources("AWS::SageMaker::Endpoint")
    return {e["Properties"]["EndpointName"] for e in endpoints.values()}


def test_only_the_changed_and_the_added_model_get_new_endpoints(catalog_stage, changed_stage):
    added = async_endpoint_names(changed_stage) - async_endpoint_names(catalog_stage)
    assert {name.rsplit("-", 2)[0] for name in added} == {"llm-cat-summarizer", "llm-cat-extra"}


def test_each_model_names_its_endpoint_or_component_in_the_stack_outputs(async_template, streaming_template):
    async_outputs = {o["Description"]: o["Value"] for o in async_template.to_json()["Outputs"].values() if "Description" in o}
    endpoints = {e["Properties"]["EndpointName"] for e in async_template.find_resources("AWS::SageMaker::Endpoint").values()}
    assert {k: v for k, v in async_outputs.items() if k.endswith("async endpoint")}.keys() == {
        f"{name}: async endpoint" for name in ("chat", "coder", "summarizer")
    }
    assert set(v for k, v in async_outputs.items() if k.endswith("async endpoint")) == endpoints
    streaming_outputs = {o.get("Description") for o in streaming_template.to_json()["Outputs"].values()}
    assert {f"{name}: inference component" for name in ("chat", "coder", "legacy")} <= streaming_outputs


def test_a_catalog_too_large_for_lambdas_environment_stops_synth_with_a_config_error():
    data = copy.deepcopy(CATALOG)
    summarizer = data["models"].pop("summarizer")
    for number in range(30):
        data["models"][f"summarizer-number-{number:02d}"] = copy.deepcopy(summarizer)
    with pytest.raises(ConfigError, match=r"Catalog: the catalog's 33 models make MODEL_CATALOG \d+ bytes, above the 3072"):
        stage_of(data)


def test_a_vllm_model_streams_as_a_component_with_aws_vllm_image():
    data = copy.deepcopy(CATALOG)
    data["models"]["summarizer"]["streaming"] = {}
    streaming = Template.from_stack(stage_of(data).streaming)
    components = streaming.find_resources("AWS::SageMaker::InferenceComponent").values()
    assert {c["Properties"]["InferenceComponentName"].rsplit("-", 1)[-1] for c in components} >= {"summarizer"}
    (model,) = [
        r for r in resources_under(streaming, "summarizer").values() if r["Type"] == "AWS::SageMaker::Model"
    ]
    assert "vllm" in json.dumps(model["Properties"]["PrimaryContainer"]["Image"])
