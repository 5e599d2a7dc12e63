"""Prompt templates in profiles (``prompt``, ``[vars]``, ``--var``), the one syntax shared with batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_profile
from gptcli import profiles, template
from gptcli.errors import ConfigError, UsageError

TWO_VARS = 'prompt = "Translate into {lang} as a {tone} speaker:\\n{input}"\n[vars]\ntone = "friendly"\n'


def test_two_variables_and_stdin_fill_as_documented(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("ask", "-p", "tr", "--var", "lang=French", "Hello", input="from stdin\n")
    assert r.code == 0, r.stderr
    # {input}: the arguments, then stdin, a blank line apart (as without a template)
    sent = server.chat_requests()[0]["messages"][-1]["content"]
    assert sent == "Translate into French as a friendly speaker:\nHello\n\nfrom stdin\n"
    assert r.stderr == ""


def test_var_overrides_default_and_reads_a_file(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    f = tmp_path / "tone.txt"
    f.write_text("pirate", encoding="utf-8")
    r = gptcli("ask", "-p", "tr", "--var", "lang=@@de", "--var", f"tone=@{f}", "hi")
    assert r.code == 0, r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "Translate into @de as a pirate speaker:\nhi"


def test_missing_variable_exits_2_naming_it(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("ask", "-p", "tr", "Hello")
    assert r.code == 2
    assert "{lang}" in r.stderr and "--var lang=" in r.stderr
    assert server.chat_requests() == []


def test_missing_input_exits_2(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("ask", "-p", "tr", "--var", "lang=de")
    assert r.code == 2 and "{input}" in r.stderr


def test_unused_var_is_a_warning(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("ask", "-p", "tr", "--var", "lang=de", "--var", "colour=red", "hi")
    assert r.code == 0
    assert "warning: --var colour is not used" in r.stderr
    r = gptcli("ask", "--var", "x=1", "hi")  # no template at all
    assert r.code == 0 and "warning: --var x is not used" in r.stderr


def test_bad_var_flags(server, gptcli, tmp_path: Path) -> None:
    assert gptcli("ask", "--var", "novalue", "hi").code == 2
    assert gptcli("ask", "--var", "input=x", "hi").code == 2
    r = gptcli("ask", "--var", f"a=@{tmp_path / 'missing.txt'}", "hi")
    assert r.code == 2 and "no such file" in r.stderr


def test_template_without_input_appends_it(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "plain", 'prompt = "Be brief. {{literal}}"\n')
    r = gptcli("ask", "-p", "plain", "why?")
    assert r.code == 0, r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "Be brief. {literal}\n\nwhy?"


def test_dry_run_shows_the_filled_prompt(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("ask", "-p", "tr", "--var", "lang=de", "--dry-run", "x")
    assert r.code == 0, r.stderr
    out = r.json()
    assert out["prompt"] == "Translate into de as a friendly speaker:\nx"
    assert out["body"]["messages"][-1]["content"] == out["prompt"]
    assert server.chat_requests() == []


def test_profiles_show_lists_the_variables(gptcli, isolated: Path) -> None:
    write_profile(isolated, "tr", TWO_VARS)
    r = gptcli("profiles", "show", "tr", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["variables"] == [
        {"name": "lang", "default": None, "required": True, "from": "--var"},
        {"name": "tone", "default": "friendly", "required": False, "from": "--var"},
        {"name": "input", "default": None, "required": True, "from": "arguments, stdin, -f"},
    ]
    text = gptcli("profiles", "show", "tr").stdout
    assert "lang" in text and "(required)" in text and "'friendly'" in text


def test_vars_merge_over_extends(isolated: Path) -> None:
    write_profile(isolated, "child", 'extends = "review"\n[vars]\nlang = "Python"\n')
    prof = profiles.resolve("child")
    assert prof.vars["lang"] == "Python" and "focus" in prof.vars and "{focus}" in (prof.prompt or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "{unclosed"\n', "'prompt' is not a valid template"),
        ('prompt = "{a.b}"\n', "only plain {field} names"),
        ('prompt = "x"\nvars = { n = 1 }\n', "'vars' must be a table of strings"),
        ('prompt = "x"\n[vars]\ninput = "x"\n', "bad name 'input'"),
    ],
)
def test_bad_templates_in_a_profile_are_config_errors(isolated: Path, text: str, message: str) -> None:
    write_profile(isolated, "bad", text)
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        profiles.resolve("bad")


def test_one_syntax_for_batch_and_profiles() -> None:
    from gptcli.batch import input as batch_input

    assert issubclass(batch_input.Template, template.Template)
    assert template.Template("a {{b}} {c}").render({"c": 1}) == "a {b} 1"
    with pytest.raises(UsageError, match="--template: empty"):
        batch_input.Template("{}")
    with pytest.raises(template.TemplateError):
        template.Template("{x!r}")


@pytest.mark.parametrize("name", ["commit-msg", "review", "explain-error", "summarise"])
def test_builtin_templates_fill_with_their_defaults(name: str) -> None:
    prof = profiles.resolve(name)
    assert prof.prompt and "{input}" in prof.prompt
    filled = template.fill(prof.prompt, prof.vars, {}, "SOME INPUT", profile=name)
    assert "SOME INPUT" in filled.text and "{" not in filled.text.replace("SOME INPUT", "")


def test_chat_says_it_does_not_apply_the_template(server, gptcli) -> None:
    r = gptcli("chat", "-p", "summarise", input="hello\n")
    assert r.code == 0, r.stderr
    assert "has a prompt template; chat sends messages as typed" in r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "hello"
