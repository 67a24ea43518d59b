"""Config files are validated once, and a bad one stops synth with a message naming file and field."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from stacks.config import CONFIG_DIR, ConfigError, load_all, load_environment_config, load_pipeline_config

DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


def shipped():
    """The committed environments: a developer's own sandbox files are git-ignored."""
    return [c for c in load_all() if not c.sandbox]


def write_config(tmp_path: Path, data: object, name: str = "dev.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def config_error(tmp_path: Path, data: object) -> str:
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_environment_config(path)
    message = str(caught.value)
    assert str(path) in message, "every config error names the file"
    return message


def with_change(path: str, value: object) -> dict:
    data = copy.deepcopy(DEV)
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def without(path: str) -> dict:
    data = copy.deepcopy(DEV)
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[leaf]
    return data


def test_shipped_configs_serve_pinned_lmi_models():
    dev, preprod, prod = shipped()
    assert list(dev.models) == ["chat", "small"] and dev.default_model == "chat"
    assert dev.models["chat"].async_.instance_type == "ml.g5.2xlarge"
    assert prod.models["chat"].async_.instance_type == "ml.g5.12xlarge"
    assert prod.models["chat"].resources.gpus == 2
    models = [model for config in (dev, preprod, prod) for model in config.models.values()]
    assert {model.container.framework for model in models} == {"lmi"}
    assert all(model.source.hub.revision for model in models)
    assert [c.stage_name for c in (dev, preprod, prod)] == ["Dev", "PreProd", "Prod"]


def test_every_environment_scales_to_zero_by_default():
    assert [m.async_.scaling.min_capacity for c in shipped() for m in c.async_models.values()] == [0, 0, 0]


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.scaling.max_capactiy", 3))
    assert "models.chat.async.scaling.max_capactiy" in message
    assert "unknown key" in message


def test_wrong_type_is_rejected_with_the_expected_type(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.scaling.max_capacity", "three"))
    assert "models.chat.async.scaling.max_capacity" in message
    assert "valid integer" in message
    assert "'three'" in message


def test_min_capacity_above_max_is_rejected(tmp_path):
    data = with_change("models.chat.async.scaling.min_capacity", 3)
    message = config_error(tmp_path, data)
    assert "models.chat.async.scaling" in message
    assert "'min_capacity' (3) must not be above 'max_capacity' (1)" in message


@pytest.mark.parametrize("instance_type", ["g5.2xlarge", "ml.g5", "ml.g5.2xlarge ", "p4d.24xlarge", "ml.g5.2xlargee"])
def test_instance_type_must_be_a_sagemaker_hosting_type(tmp_path, instance_type):
    message = config_error(tmp_path, with_change("models.chat.async.instance_type", instance_type))
    assert "field 'models.chat.async.instance_type': unknown SageMaker instance type" in message
    assert "start with 'ml.'" in message


@pytest.mark.parametrize(
    ("typo", "meant"), [("ml.g5.2xlargee", "ml.g5.2xlarge"), ("g5.12xlarge", "ml.g5.12xlarge"), ("ml.g6e.xlarg", "ml.g6e.xlarge")]
)
def test_an_instance_type_near_miss_gets_a_suggestion(tmp_path, typo, meant):
    message = config_error(tmp_path, with_change("streaming_endpoint.instance_type", typo))
    assert f"did you mean '{meant}'" in message


@pytest.mark.parametrize("field", ["stage_name", "resource_prefix", "models", "models.chat.async.instance_type"])
def test_missing_required_field_is_named(tmp_path, field):
    message = config_error(tmp_path, without(field))
    assert f"field '{field}': required but missing" in message


def test_model_needs_exactly_one_source(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.source.s3", {"uri": "s3://my-models/qwen/"}))
    assert "field 'models.chat.source'" in message
    assert "exactly one of 'hub' (id and revision) or 's3' (uri)" in message


def test_removal_policy_lists_the_allowed_values(tmp_path):
    message = config_error(tmp_path, with_change("storage.removal_policy", "delete"))
    assert "storage.removal_policy" in message
    assert "'destroy' or 'retain'" in message


@pytest.mark.parametrize(
    ("written", "read_as"),
    # YAML 1.1 reads a leading 0 followed by octal digits as an octal number.
    [("123456789012", "123456789012"), ("012345670123", "1402433619")],
)
def test_an_account_id_read_as_a_number_gets_the_quoting_hint(tmp_path, written, read_as):
    path = tmp_path / "dev.yaml"
    path.write_text((CONFIG_DIR / "dev.yaml").read_text().replace('account: "111111111111"', f"account: {written}"))
    with pytest.raises(ConfigError) as caught:
        load_environment_config(path)
    message = str(caught.value)
    assert f"field 'account': must be text in quotes; YAML read the unquoted value as the number {read_as}" in message
    assert 'Write it in quotes: account: "..."' in message


def test_an_account_id_in_a_list_read_as_a_number_gets_the_quoting_hint(tmp_path):
    message = config_error(tmp_path, with_change("api.invoker_accounts", [444444444444]))
    assert "field 'api.invoker_accounts[0]': must be text in quotes" in message
    assert 'Write it in quotes: invoker_accounts: ["...", ...]' in message


def test_a_region_typo_names_the_field_and_the_near_miss(tmp_path):
    message = config_error(tmp_path, with_change("region", "eu-wset-1"))
    assert "field 'region': unknown AWS region 'eu-wset-1'" in message
    assert "did you mean 'eu-west-1'" in message
    assert "Traceback" not in message and len(message.splitlines()) == 2


def test_an_unknown_key_suggests_the_near_miss_and_lists_the_keys_allowed_there(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.scaling.max_capactiy", 3))
    assert "field 'models.chat.async.scaling.max_capactiy': unknown key; did you mean 'max_capacity'" in message
    assert "allowed here: min_capacity, max_capacity" in message


def test_a_misspelt_choice_lists_the_allowed_values_and_the_near_miss(tmp_path):
    message = config_error(tmp_path, with_change("storage.removal_policy", "destory"))
    assert "field 'storage.removal_policy': must be 'destroy' or 'retain' (got 'destory'); did you mean 'destroy'?" in message


def test_a_pattern_mismatch_says_what_is_expected_never_the_regex(tmp_path):
    message = config_error(tmp_path, with_change("resource_prefix", "LLM_dev"))
    assert "field 'resource_prefix': must be 2-21 lowercase letters, digits or '-'" in message
    assert "^[a-z]" not in message and "should match pattern" not in message


def test_a_cross_field_error_names_the_fields_without_dumping_the_input(tmp_path):
    message = config_error(tmp_path, with_change("models.chat.async.scaling.min_capacity", 3))
    (line,) = [line for line in message.splitlines() if "min_capacity" in line]
    assert "target_backlog_per_instance" not in line and "{" not in line


def test_every_pattern_constrained_field_says_what_it_expects():
    """Without a description, a pattern error could only show the raw regex."""
    from stacks.config import EnvironmentConfig, PipelineConfig

    missing = []

    def visit(model, path):
        for name, info in model.model_fields.items():
            for annotation in [info.annotation, *typing.get_args(info.annotation)]:
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    visit(annotation, f"{path}{name}.")
                for meta in [*info.metadata, *typing.get_args(annotation)[1:]]:
                    if getattr(meta, "pattern", None) and not (info.description or getattr(meta, "description", None)):
                        missing.append(f"{path}{name}")

    visit(EnvironmentConfig, "")
    visit(PipelineConfig, "")
    assert missing == []


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    data = with_change("models.chat.async.instance_type", "g5.2xlarge")
    data["surprise"] = True
    message = config_error(tmp_path, data)
    assert "models.chat.async.instance_type" in message and "field 'surprise'" in message


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path):
    message = config_error(tmp_path, ["not", "a", "mapping"])
    assert "must hold a mapping" in message


def test_invalid_yaml_is_reported_with_the_file_line_and_column(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text("stage_name: Dev\nmodel: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_environment_config(path)
    assert str(caught.value).startswith(f"{path}, line 3, column 1: not valid YAML: ")
    assert "<unicode string>" not in str(caught.value)


def test_a_key_written_twice_is_refused_instead_of_the_first_being_dropped(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text((CONFIG_DIR / "dev.yaml").read_text() + "\nresource_prefix: llm-other\n")
    with pytest.raises(ConfigError) as caught:
        load_environment_config(path)
    assert "key 'resource_prefix' appears twice (first on line" in str(caught.value)


def test_an_empty_file_says_so(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_environment_config(path)


def test_stage_names_must_differ_between_environments(tmp_path):
    for name in ("dev", "preprod", "prod"):
        write_config(tmp_path, DEV, f"{name}.yaml")
    with pytest.raises(ConfigError, match="field 'stage_name': 'Dev' is used by 3 environments"):
        load_all(tmp_path)


def test_resource_prefixes_must_differ_between_environments(tmp_path):
    write_config(tmp_path, DEV, "dev.yaml")
    write_config(tmp_path, with_change("stage_name", "Staging"), "staging.yaml")
    with pytest.raises(ConfigError) as caught:
        load_all(tmp_path)
    assert str(tmp_path / "dev.yaml") in str(caught.value) and str(tmp_path / "staging.yaml") in str(caught.value)
    assert "field 'resource_prefix': 'llm-dev' is used by 2 environments" in str(caught.value)


def test_every_yaml_file_is_an_environment_except_pipeline_and_underscored_ones(tmp_path):
    write_config(tmp_path, DEV, "dev.yaml")
    write_config(tmp_path, with_change("stage_name", "Staging") | {"resource_prefix": "llm-staging"}, "staging.yaml")
    write_config(tmp_path, {"not": "an environment"}, "_notes.yaml")
    write_config(tmp_path, {"tooling": {}}, "pipeline.yaml")
    (tmp_path / "templates").mkdir()
    write_config(tmp_path / "templates", {"not": "an environment"}, "sandbox.yaml")
    assert [c.stage_name for c in load_all(tmp_path)] == ["Dev", "Staging"]


def test_a_yml_file_is_refused_instead_of_silently_ignored(tmp_path):
    write_config(tmp_path, DEV, "dev.yaml")
    write_config(tmp_path, DEV, "staging.yml")
    with pytest.raises(ConfigError, match="rename it to staging.yaml"):
        load_all(tmp_path)


def test_app_exits_with_the_config_message_instead_of_a_traceback(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path, dirs_exist_ok=True)
    write_config(tmp_path, with_change("models.chat.async.instance_type", "gpu-large"), "dev.yaml")
    # As `cdk synth -c config_dir=...` runs the app: the CLI hands the context over in CDK_CONTEXT_JSON.
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=CONFIG_DIR.parent,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"config_dir": str(tmp_path)})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'dev.yaml'}: invalid configuration")
    assert "models.chat.async.instance_type" in result.stderr and "Traceback" not in result.stderr


def test_streaming_min_copies_above_max_is_rejected(tmp_path):
    data = with_change("streaming_endpoint.scale_to_zero", False)
    data["models"]["chat"]["streaming"]["min_copies"] = 3
    message = config_error(tmp_path, data)
    assert "field 'models.chat.streaming'" in message
    assert "'min_copies' (3) must not be above 'max_copies' (1)" in message


def pipeline_error(tmp_path: Path, change) -> str:
    for shipped in CONFIG_DIR.glob("*.yaml"):
        if not (tmp_path / shipped.name).exists():
            shutil.copy(shipped, tmp_path)
    pipeline = yaml.safe_load((CONFIG_DIR / "pipeline.yaml").read_text())
    change(pipeline)
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'pipeline.yaml'}: "), "every pipeline error names the file"
    return message


def test_pipeline_connection_must_be_a_connection_arn(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p.update(connection_arn="arn:aws:codecommit:eu-west-1:444444444444:my-repo"))
    assert "field 'connection_arn': must be a connection ARN" in message
    assert "should match pattern" not in message


def test_the_old_dev_target_points_to_its_new_place(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p.update(dev={"account": "111111111111", "region": "eu-west-1"}))
    assert "the 'dev' block has moved" in message and "config/dev.yaml (account, region)" in message


def test_a_wave_naming_an_unknown_environment_suggests_the_near_miss(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p["waves"][1].update(environments=["Preprod"]))
    assert "field 'waves[1].environments[0]': no environment has stage_name 'Preprod'; did you mean 'PreProd'" in message
    assert "Dev (dev.yaml)" in message


def test_a_wave_naming_a_sandbox_is_refused(tmp_path):
    write_config(tmp_path, with_change("sandbox", True) | {"stage_name": "SandboxAlice", "resource_prefix": "llm-sbx-alice"}, "sandbox-alice.yaml")
    message = pipeline_error(tmp_path, lambda p: p["waves"][0]["environments"].append("SandboxAlice"))
    assert "field 'waves[0].environments[1]': SandboxAlice is a sandbox" in message
    assert "sandbox-alice.yaml" in message


def test_a_wave_naming_an_environment_agnostic_environment_is_refused(tmp_path):
    write_config(tmp_path, with_change("account", None) | {"region": None}, "dev.yaml")
    message = pipeline_error(tmp_path, lambda p: None)
    assert "field 'waves[0].environments[0]': Dev is environment-agnostic" in message


def test_a_wave_named_like_a_stage_of_the_pipeline_itself_is_refused(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p["waves"][0].update(name="Build"))
    assert "field 'waves[0].name': 'Build' is the name of one of the pipeline's own stages" in message


def test_an_environment_in_two_waves_is_refused(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p["waves"][2]["environments"].append("Dev"))
    assert "field 'waves[2].environments[1]': Dev is already deployed by wave 'Dev'" in message


def test_a_smoke_tested_environment_must_admit_the_tooling_account(tmp_path):
    message = pipeline_error(tmp_path, lambda p: p["waves"][0].update(smoke_test=True))
    assert "field 'waves[0].smoke_test'" in message and "'api.invoker_accounts'" in message


# --- alarm recipients -------------------------------------------------------------------------


def test_shipped_environments_each_tell_somebody_of_alarms():
    assert all(c.alarms.email or c.alarms.topic_arns for c in load_all())


def test_an_environment_without_alarm_recipients_is_rejected(tmp_path):
    message = config_error(tmp_path, without("alarms"))
    assert "field 'alarms'" in message
    assert "'alarms.email'" in message and "'alarms.topic_arns'" in message and "sandbox: true" in message


def test_a_sandbox_may_leave_alarms_without_recipients(tmp_path):
    data = without("alarms")
    data["sandbox"] = True
    config = load_environment_config(write_config(tmp_path, data))
    assert (config.alarms.email, config.alarms.topic_arns) == ([], [])


def test_a_malformed_alarm_address_is_named(tmp_path):
    message = config_error(tmp_path, with_change("alarms.email", ["oncall.example.com"]))
    assert "field 'alarms.email'" in message and "'oncall.example.com' is not an email address" in message


def test_alarm_topics_must_be_standard_sns_topic_arns(tmp_path):
    message = config_error(tmp_path, with_change("alarms.topic_arns", ["arn:aws:sns:eu-west-1:111111111111:pager.fifo"]))
    assert "field 'alarms.topic_arns'" in message and "standard SNS topic ARN" in message


def test_alarm_topics_must_be_in_the_environments_region(tmp_path):
    data = with_change("alarms.topic_arns", ["arn:aws:sns:us-east-1:111111111111:pager"])
    data["account"], data["region"] = "111111111111", "eu-west-1"
    message = config_error(tmp_path, data)
    assert "field 'alarms'" in message and "only to topics in their own region (eu-west-1)" in message


def test_at_most_four_existing_alarm_topics_fit_beside_the_alarm_topic(tmp_path):
    arns = [f"arn:aws:sns:eu-west-1:111111111111:t{i}" for i in range(5)]
    message = config_error(tmp_path, with_change("alarms.topic_arns", arns))
    assert "field 'alarms.topic_arns'" in message and "at most 4" in message


# --- stream budget ----------------------------------------------------------------------------


def test_streams_may_last_fifteen_minutes_by_default():
    assert {c.streaming_endpoint.max_stream_seconds for c in load_all()} == {900}


def test_a_stream_budget_above_api_gateways_fifteen_minutes_is_rejected(tmp_path):
    message = config_error(tmp_path, with_change("streaming_endpoint.max_stream_seconds", 1200))
    assert "field 'streaming_endpoint.max_stream_seconds'" in message and "less than or equal to 900" in message


def test_a_read_timeout_at_api_gateways_idle_timeout_is_rejected(tmp_path):
    message = config_error(tmp_path, with_change("streaming_endpoint.upstream_read_timeout_seconds", 300))
    assert "field 'streaming_endpoint.upstream_read_timeout_seconds'" in message and "less than 300" in message


def test_a_read_timeout_that_outlasts_the_function_is_rejected(tmp_path):
    data = with_change("streaming_endpoint.max_stream_seconds", 120)
    data["streaming_endpoint"]["upstream_read_timeout_seconds"] = 110
    message = config_error(tmp_path, data)
    assert "field 'streaming_endpoint'" in message and "must be below the function's timeout (105 s)" in message


def test_streaming_without_room_for_a_model_update_is_rejected(tmp_path):
    data = with_change("models.chat.streaming.max_copies", 2)
    data["streaming_endpoint"]["max_instances"] = 5
    message = config_error(tmp_path, data)
    assert "field 'streaming_endpoint.max_instances'" in message
    assert "the streaming models at max_copies (chat: 2, small: 1), twice, need 6 ml.g5.2xlarge instance(s) (got 5)" in message


@pytest.mark.parametrize("field", ["models.chat.async.scaling.idle_minutes", "models.chat.streaming.idle_minutes"])
def test_idle_tail_below_three_minutes_is_rejected_with_its_bounds(tmp_path, field):
    message = config_error(tmp_path, with_change(field, 2))
    assert f"field '{field}'" in message and "greater than or equal to 3" in message


def test_hold_that_leaves_the_answer_too_little_of_the_stream_is_rejected(tmp_path):
    data = with_change("streaming_endpoint.max_stream_seconds", 600)
    data["streaming_endpoint"]["max_hold_seconds"] = 500
    message = config_error(tmp_path, data)
    assert "field 'streaming_endpoint'" in message and "'max_hold_seconds' (500) must leave the answer 180 s" in message
    assert "at most 405" in message
