"""`python -m local` as a process: it says where it is and how to call it, and stops cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from .conftest import ROOT, LocalProcess, free_port, local_environment


def test_the_banner_gives_the_url_the_models_and_a_ready_to_paste_curl(local_api):
    assert f"ready at {local_api.url}" in local_api.output
    assert "models: chat (lmi), small (lmi)" in local_api.output
    assert '--user "alice-key:alice-secret"' in local_api.output
    assert f"{local_api.url}v1/chat/completions" in local_api.output


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_stops_cleanly_on_ctrl_c_and_sigterm(signal_number):
    running = LocalProcess(free_port())
    running.wait_ready()

    assert running.stop(signal_number) == 0
    assert running.output.rstrip().endswith("Local API stopped.")
    assert "Traceback" not in running.output


def test_a_malformed_key_pair_list_is_refused_with_one_line():
    environment = {**local_environment(free_port()), "LOCAL_CREDENTIALS": "no-secret-here"}
    answer = subprocess.run([sys.executable, "-m", "local"], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=60)

    assert answer.returncode == 2
    assert answer.stderr == "error: LOCAL_CREDENTIALS: 'no-secret-here' is not of the form access-key-id:secret\n"


def test_a_port_in_use_is_refused_with_one_line(local_api):
    port = local_api.url.split(":")[2].split("/")[0]
    environment = {**local_environment(int(port))}
    answer = subprocess.run([sys.executable, "-m", "local"], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=60)

    assert answer.returncode == 1
    assert f"cannot start the local API on port {port}" in answer.stderr
    assert "Traceback" not in answer.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_local_serves_on_local_port_and_stops_on_ctrl_c():
    port = free_port()
    # A terminal's Ctrl-C reaches the whole foreground process group: make and the server.
    process = subprocess.Popen(["make", "-s", "local"], cwd=ROOT, env=local_environment(port),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops it." in line:
                break
        assert f"ready at http://127.0.0.1:{port}/api/" in "".join(lines)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "Local API stopped." in output
    assert "Traceback" not in output
