"""purge: everything of the state folder but the jars, and a checkpoint folder kept elsewhere."""

from __future__ import annotations

from pathlib import Path

from userstream.config import SparkSettings, load_settings
from userstream.pipeline import purge


def test_purge_removes_a_checkpoint_folder_outside_the_state_folder(tmp_path: Path) -> None:
    state, checkpoints = tmp_path / "state", tmp_path / "elsewhere" / "ckpt"
    (checkpoints / "offsets").mkdir(parents=True)
    settings = load_settings(state_dir=state, spark=SparkSettings(checkpoint_dir=checkpoints))
    settings.paths.lib.mkdir(parents=True)
    (state / "secrets").mkdir()
    said: list[str] = []
    purge(settings, say=said.append)
    assert not checkpoints.exists()
    assert not (state / "secrets").exists()
    assert settings.paths.lib.is_dir()
    assert any(str(checkpoints) in line for line in said)


def test_purge_never_removes_an_ancestor_of_the_state_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = load_settings(state_dir=state, spark=SparkSettings(checkpoint_dir=tmp_path))
    settings.paths.lib.mkdir(parents=True)
    purge(settings, say=lambda line: None)
    assert settings.paths.lib.is_dir()


def test_purge_keeps_a_remote_checkpoint_and_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    uri = "hdfs:///checkpoints/userstream"
    settings = load_settings(state_dir=state, spark=SparkSettings(checkpoint_dir=uri))
    said: list[str] = []
    purge(settings, say=said.append)
    assert any(uri in line and "not on this machine" in line for line in said), said
