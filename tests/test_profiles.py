"""Profiles: every built-in loads, precedence holds, bad files give one line and exit 3."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, write_profile
from gptcli import profiles
from gptcli.errors import ConfigError, NotFoundError, UsageError

BUILTINS = sorted(p.stem for p in (ROOT / "profiles").glob("*.toml"))


def test_required_builtins_exist() -> None:
    assert {"default", "coder", "translator", "concise", "local", "reasoning"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_loads_and_validates(name: str) -> None:
    prof = profiles.resolve(name)
    assert prof.name == name
    assert prof.model


def test_user_profile_overrides_builtin(isolated: Path) -> None:
    write_profile(isolated, "coder", 'model = "my-model"\n')
    prof = profiles.resolve("coder")
    assert prof.model == "my-model"
    assert prof.system is None  # replaced, not merged


def test_user_profile_can_extend_the_builtin_it_replaces(isolated: Path) -> None:
    write_profile(isolated, "coder", 'extends = "coder"\ntemperature = 0.9\n')
    prof = profiles.resolve("coder")
    assert prof.temperature == 0.9
    assert prof.model == "gpt-4.1" and prof.system


def test_extends_chain_and_sources(isolated: Path) -> None:
    write_profile(isolated, "base", 'model = "m1"\ntemperature = 0.1\n[params]\ntop_k = 5\n')
    path = write_profile(isolated, "child", 'extends = "base"\ntemperature = 0.5\n[params]\nmin_p = 0.1\n')
    prof = profiles.resolve("child")
    assert (prof.model, prof.temperature) == ("m1", 0.5)
    assert prof.params == {"top_k": 5, "min_p": 0.1}
    assert prof.sources["temperature"].endswith("child.toml:2")
    assert prof.sources["model"].endswith("base.toml:1")
    assert str(path.name) in prof.sources["temperature"]


def test_extends_loop_is_an_error(isolated: Path) -> None:
    write_profile(isolated, "a", 'extends = "b"\n')
    write_profile(isolated, "b", 'extends = "a"\n')
    with pytest.raises(ConfigError, match="loops"):
        profiles.resolve("a")


def test_precedence_flags_over_env_over_profile(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_profile(isolated, "p", 'model = "from-file"\nbase_url = "http://file.example/v1"\n')
    assert profiles.resolve("p").model == "from-file"
    monkeypatch.setenv("GPTCLI_MODEL", "from-env")
    prof = profiles.resolve("p")
    assert prof.model == "from-env" and prof.sources["model"] == "env GPTCLI_MODEL"
    prof = profiles.resolve("p", {"model": "from-flag"})
    assert prof.model == "from-flag" and prof.sources["model"] == "flag"
    # A profile's own base_url wins over OPENAI_BASE_URL, which only fills a gap.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.example/v1")
    assert profiles.resolve("p").base_url == "http://file.example/v1"
    assert profiles.resolve("default").base_url == "http://env.example/v1"


def test_gptcli_profile_env_picks_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTCLI_PROFILE", "coder")
    assert profiles.resolve().name == "coder"


def test_stop_sequences_alias(isolated: Path) -> None:
    write_profile(isolated, "t", 'stop_sequences = ["END", "###"]\n')
    assert profiles.resolve("t").stop == ("END", "###")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("temperature = 3\n", "'temperature' must be between 0 and 2"),
        ('temperature = "hot"\n', "'temperature' must be a number"),
        ('stop = ["a", "b", "c", "d", "e"]\n', "at most 4"),
        ("colour = 1\n", "unknown key 'colour'"),
        ("temprature = 1\n", "did you mean 'temperature'"),
        ("model = \n", "invalid TOML"),
        ("n = 0\n", "'n' must be between 1 and 128"),
        ('reasoning_effort = "extreme"\n', "'reasoning_effort' must be one of"),
        ("[price]\ninput = -1\n", "'price'"),
    ],
)
def test_bad_profile_is_one_line_exit_3(isolated: Path, gptcli, text: str, needle: str) -> None:
    write_profile(isolated, "bad", text)
    r = gptcli("ask", "-p", "bad", "--dry-run", "hi")
    assert r.code == 3, r.stderr
    assert needle in r.stderr
    assert "bad.toml" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_toml_syntax_error_names_the_line(isolated: Path, gptcli) -> None:
    write_profile(isolated, "bad", 'model = "x"\n\ntemperature = = 1\n')
    r = gptcli("profiles", "show", "bad")
    assert r.code == 3
    assert "line 3" in r.stderr


def test_unknown_profile(gptcli) -> None:
    r = gptcli("ask", "-p", "nope", "--dry-run", "hi")
    assert r.code == 3
    assert "unknown profile 'nope'" in r.stderr


def test_profile_name_with_path_separator_is_refused() -> None:
    with pytest.raises(UsageError):
        profiles.resolve("../../etc/passwd")
    with pytest.raises(NotFoundError):
        profiles.resolve("nosuch")


def test_bad_flag_value_is_a_usage_error(gptcli) -> None:
    r = gptcli("ask", "-t", "5", "--dry-run", "hi")
    assert r.code == 2
    assert "--temperature" in r.stderr


def test_profiles_list_and_show(gptcli) -> None:
    r = gptcli("profiles", "list", "--json")
    assert r.code == 0
    names = {p["name"] for p in r.json()}
    assert {"default", "coder", "local"} <= names
    r = gptcli("profiles", "show", "coder", "-m", "gpt-4o", "--json")
    data = r.json()
    assert data["settings"]["model"] == "gpt-4o"
    assert data["sources"]["model"] == "flag"
    assert data["sources"]["temperature"].endswith("coder.toml:3")


def test_profiles_new_writes_toml_and_never_clobbers(isolated: Path, gptcli) -> None:
    r = gptcli("profiles", "new", "mine", "--from", "coder", "-m", "gpt-4o", "-t", "0.3")
    assert r.code == 0, r.stderr
    path = isolated / "gptcli" / "config" / "profiles" / "mine.toml"
    assert tomllib.loads(path.read_text()) == {"extends": "coder", "model": "gpt-4o", "temperature": 0.3}
    prof = profiles.resolve("mine")
    assert prof.system and prof.model == "gpt-4o"
    r = gptcli("profiles", "new", "mine", "-m", "x")
    assert r.code == 2 and "--force" in r.stderr
    assert "gpt-4o" in path.read_text()
    r = gptcli("profiles", "new", "mine", "-m", "x", "--force")
    assert r.code == 0
    assert tomllib.loads(path.read_text()) == {"model": "x"}
