"""deploy/jupyterhub/ is well-formed (no root needed): the Hub configuration loads with class
settings, the per-role Jupyter settings parse, the Helm values parse and their Hub code compiles.
The deployment itself is run end to end by tests/test_hub_e2e.py."""

import json
from pathlib import Path

import pytest
import yaml
from traitlets.config import PyFileConfigLoader

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "jupyterhub"


def test_hub_configuration_loads_the_class(tmp_path, monkeypatch):
    settings = tmp_path / "class.json"
    settings.write_text(json.dumps({"course_id": "ml101", "exchange": "/srv/x",
                                    "course_dir": "/home/alice/ml101",
                                    "course_python": "/opt/env/bin/python"}))
    monkeypatch.setenv("NBKIT_CLASS_SETTINGS", str(settings))
    c = PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    assert c.Spawner.cmd == ["/opt/env/bin/python", "-m", "jupyterhub.singleuser"]
    assert c.PAMAuthenticator.allowed_groups == {"nbkit-instructors", "nbkit-students"}
    assert set(c.JupyterHub.load_groups) == {"instructors", "students"}
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["instructor"]

    class User:
        name = "someone-not-in-the-instructors-group"

    class Spawner:
        user, environment = User(), {}

    c.Spawner.pre_spawn_hook(Spawner)
    env = Spawner.environment
    assert env["NBKIT_COURSE_ID"] == "ml101" and env["NBKIT_CLASS_ROLE"] == "student"
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0].endswith("jupyter-config/student")
    assert env["PATH"].startswith("/opt/env/bin:") and "NBKIT_COURSE_DIR" not in env


def test_class_settings_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("NBKIT_CLASS_SETTINGS", str(tmp_path / "nope.json"))
    with pytest.raises(SystemExit, match="run deploy/jupyterhub/setup_class.py first"):
        PyFileConfigLoader("class_config.py", path=str(DEPLOY)).load_config()


def test_role_settings_parse_and_differ():
    conf = {r: json.loads((DEPLOY / "jupyter-config" / r / "jupyter_server_config.json")
                          .read_text())["ServerApp"]["jpserver_extensions"]
            for r in ("instructor", "student")}
    assert conf["instructor"]["nbgrader.server_extensions.formgrader"] is True
    assert conf["student"]["nbgrader.server_extensions.formgrader"] is False
    for r in ("instructor", "student"):
        json.loads((DEPLOY / "jupyter-config" / r / "labconfig" / "page_config.json").read_text())


def test_nbgrader_settings_use_the_strict_exchange(monkeypatch):
    monkeypatch.setenv("NBKIT_COURSE_ID", "ml101")
    c = PyFileConfigLoader("nbgrader_config.py",
                           path=str(DEPLOY / "jupyter-config" / "common")).load_config()
    assert c.CourseDirectory.course_id == "ml101"
    for step in ("submit", "collect", "release_feedback"):
        assert c.ExchangeFactory[step].startswith("nbkit.grading.exchange.")
        module, name = c.ExchangeFactory[step].rsplit(".", 1)
        assert getattr(__import__(module, fromlist=[name]), name)


def test_helm_values_parse_and_their_hub_code_compiles():
    values = yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())
    mounts = {m["mountPath"] for m in values["singleuser"]["storage"]["extraVolumeMounts"]}
    assert "/srv/nbgrader/exchange" in mounts
    for name, code in values["hub"]["extraConfig"].items():
        compile(code, f"hub.extraConfig.{name}", "exec")
