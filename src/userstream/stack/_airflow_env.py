"""The environment the local Airflow processes run with.

Airflow reads ``AIRFLOW__<SECTION>__<KEY>`` env vars over ``airflow.cfg``; everything the
project decides is passed that way, so the generated ``airflow.cfg`` in AIRFLOW_HOME only
holds what Airflow generates itself on first start (the Fernet key and the JWT secret, kept
there with mode 0600 rather than in process environments).

The project's own settings are passed through as ``USERSTREAM_*`` variables so DAG tasks
see the same Kafka, Cassandra and state folder as the command that started Airflow.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, SecretStr

from userstream.config import Settings
from userstream.errors import ConfigError


def dags_folder(settings: Settings) -> Path:
    """``settings.airflow.dags_folder``, else the checkout's ``airflow/dags``."""
    if settings.airflow.dags_folder is not None:
        folder = settings.airflow.dags_folder.resolve()
    else:
        # src/userstream/stack/_airflow_env.py → the checkout root is four levels up.
        folder = Path(__file__).resolve().parents[3] / "airflow" / "dags"
    if not folder.is_dir():
        raise ConfigError(
            f"The DAGs folder {folder} does not exist.",
            hint="Set USERSTREAM_AIRFLOW__DAGS_FOLDER to the folder holding streaming_pipeline.py.",
        )
    return folder


def airflow_home(settings: Settings) -> Path:
    """``<state>/airflow`` for the default instance, ``<state>/<instance>`` for others."""
    return settings.paths.root / settings.airflow.instance


def process_name(settings: Settings, component: str) -> str:
    """The pid/log name of one component, e.g. ``airflow-scheduler``."""
    return f"{settings.airflow.instance}-{component}"


def passwords_file(settings: Settings) -> Path:
    return settings.paths.secrets / f"{settings.airflow.instance}-passwords.json"


def base_url(settings: Settings) -> str:
    return f"http://{settings.airflow.host}:{settings.airflow.port}"


def _section_env(name: str, section: BaseModel) -> dict[str, str]:
    env: dict[str, str] = {}
    for key in section.model_dump(mode="python", exclude_defaults=True):
        if isinstance(getattr(section, key), SecretStr):
            # Secrets reach the tasks the way they reached us (env or .env), never via here.
            continue
        raw = section.model_dump(mode="json", include={key})[key]
        text = raw if isinstance(raw, str) else json.dumps(raw)
        env[f"USERSTREAM_{name.upper()}__{key.upper()}"] = text
    return env


def userstream_env(settings: Settings) -> dict[str, str]:
    """The settings that differ from the defaults, as ``USERSTREAM_*`` env vars."""
    env = {"USERSTREAM_STATE_DIR": str(settings.paths.root)}
    for name in Settings.model_fields:
        section = getattr(settings, name)
        if isinstance(section, BaseModel):
            env.update(_section_env(name, section))
    return env


def airflow_env(settings: Settings) -> dict[str, str]:
    """Every ``AIRFLOW*`` and ``USERSTREAM_*`` variable the Airflow processes need."""
    home = airflow_home(settings)
    cfg = settings.airflow
    url = base_url(settings)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(settings)),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow 3 runs LocalExecutor on SQLite (it is what `airflow standalone` uses).
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(cfg.parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{cfg.admin_user}:ADMIN",  # user:role
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
        "AIRFLOW__API__HOST": cfg.host,
        "AIRFLOW__API__PORT": str(cfg.port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": str(cfg.api_workers),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # Re-scan the DAGs folder often so a new file shows up in seconds, not minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
            home / "logs" / "dag_processor"
        ),
    }
    env.update(userstream_env(settings))
    return env
