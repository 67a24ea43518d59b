"""Config files are validated once, and a bad one stops synth with a message naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR, ConfigError, load_all, load_environment_config, load_pipeline_config

DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


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
    dev, preprod, prod = load_all()
    assert list(dev.models) == ["chat", "small"] and dev.default_model == "chat"
    assert dev.models["chat"].async_.instance_type == "ml.g5.2xlarge"
    assert prod.models["chat"].async_.instance_type == "ml.g5.12xlarge"
    assert prod.models["chat"].resources.gpus == 2
    models = [model for config in (dev, preprod, prod) for model in config.models.values()]
    assert {model.container.framework for model in models} == {"lmi"}
    assert all(model.source.hub.revision for model in models)
    assert [c.stage_name for c in (dev, preprod, prod)] == ["Dev", "PreProd", "Prod"]


def test_dev_is_environment_agnostic_so_synth_needs_no_credentials():
    dev = load_all()[0]
    assert dev.account is None and dev.region is None


def test_every_environment_scales_to_zero_by_default():
    assert [m.async_.scaling.min_capacity for c in load_all() for m in c.async_models.values()] == [0, 0, 0]


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


@pytest.mark.parametrize("instance_type", ["g5.2xlarge", "ml.g5", "ml.g5.2xlarge ", "p4d.24xlarge"])
def test_instance_type_must_be_a_sagemaker_ml_type(tmp_path, instance_type):
    message = config_error(tmp_path, with_change("models.chat.async.instance_type", instance_type))
    assert "models.chat.async.instance_type" in message
    assert "starting with 'ml.'" in message


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


def test_account_must_be_quoted_twelve_digits(tmp_path):
    data = with_change("account", 123456789012)
    data["region"] = "eu-west-1"
    message = config_error(tmp_path, data)
    assert "field 'account'" in message


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    data = with_change("models.chat.async.instance_type", "g5.2xlarge")
    data["surprise"] = True
    message = config_error(tmp_path, data)
    assert "models.chat.async.instance_type" in message and "field 'surprise'" in message


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path):
    message = config_error(tmp_path, ["not", "a", "mapping"])
    assert "must hold a mapping" in message


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_environment_config(path)


def test_stage_names_must_differ_between_environments(tmp_path):
    for name in ("dev", "preprod", "prod"):
        write_config(tmp_path, DEV, f"{name}.yaml")
    with pytest.raises(ConfigError, match="'stage_name' must differ"):
        load_all(tmp_path)


def test_app_exits_with_the_config_message_instead_of_a_traceback(tmp_path, monkeypatch):
    import app as cdk_app

    for name in ("dev", "preprod", "prod"):
        write_config(tmp_path, with_change("models.chat.async.instance_type", "gpu-large"), f"{name}.yaml")
    monkeypatch.setattr(cdk_app, "load_all", lambda: load_all(tmp_path))
    with pytest.raises(SystemExit) as exited:
        cdk_app.main()
    assert "dev.yaml" in str(exited.value) and "models.chat.async.instance_type" in str(exited.value)


def test_streaming_min_copies_above_max_is_rejected(tmp_path):
    data = with_change("streaming_endpoint.scale_to_zero", False)
    data["models"]["chat"]["streaming"]["min_copies"] = 3
    message = config_error(tmp_path, data)
    assert "field 'models.chat.streaming'" in message
    assert "'min_copies' (3) must not be above 'max_copies' (1)" in message


def test_pipeline_connection_must_be_a_connection_arn(tmp_path):
    pipeline = yaml.safe_load((CONFIG_DIR / "pipeline.yaml").read_text())
    pipeline["connection_arn"] = "arn:aws:codecommit:eu-west-1:444444444444:my-repo"
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "pipeline.yaml") in message and "field 'connection_arn'" in message
    assert "should match pattern" in message


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
