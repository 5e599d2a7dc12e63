"""The rough edges a new user hits first (issue 23): profiles, piped tables, error hints, retries."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_profile


def test_one_broken_profile_does_not_break_the_listing(gptcli, isolated: Path) -> None:
    write_profile(isolated, "mine", 'model = "m1"\ndescription = "my own"\n')
    write_profile(isolated, "typo", 'model = "x"\ntemprature = 1\n')
    write_profile(isolated, "loop", 'extends = "loop"\n')
    r = gptcli("profiles", "list")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "name\tmodel\tsource\tdescription"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["mine"] == ["mine", "m1", "user", "my own"]
    assert rows["typo"][1] == "-" and rows["typo"][3].startswith("error: ")
    assert "unknown key 'temprature' (did you mean 'temperature'?)" in rows["typo"][3]
    assert "no built-in profile of that name" in rows["loop"][3]
    assert {"coder", "default", "local"} <= set(rows)  # the built-ins are all there
    assert r.stderr.count("\n") == 1 and "2 broken profile(s): loop, typo" in r.stderr

    data = gptcli("profiles", "list", "--json")
    assert data.code == 0
    by_name = {p["name"]: p for p in data.json()}
    assert by_name["typo"]["error"] and by_name["typo"]["model"] is None
    assert by_name["mine"]["error"] is None and by_name["mine"]["model"] == "m1"

    shown = gptcli("profiles", "show", "typo")
    assert shown.code == 3 and "temprature" in shown.stderr and shown.stdout == ""
    assert gptcli("profiles", "show", "mine").code == 0


def test_profiles_alone_lists_them(gptcli) -> None:
    alone, listed = gptcli("profiles"), gptcli("profiles", "list")
    assert alone.code == 0, alone.stderr
    assert alone.stdout == listed.stdout and "default\t" in alone.stdout


def test_piped_tables_have_a_header_and_dashes_for_empty_cells(server, gptcli, isolated: Path) -> None:
    server.known_models = ["gpt-4o-mini", "no-price-model"]
    models = gptcli("models").stdout.splitlines()
    assert models[0] == "model\tcontext\tinput $/1M\toutput $/1M\towned by"
    unknown = next(line for line in models if line.startswith("no-price-model\t")).split("\t")
    assert unknown[1:4] == ["-", "-", "-"]  # nothing empty: every column is there for cut/awk

    a, b = isolated / "a.txt", isolated / "b.txt"
    a.write_text("one two\n", encoding="utf-8")
    b.write_text("three\n", encoding="utf-8")
    count = gptcli("count", "-f", str(a), "-f", str(b)).stdout.splitlines()
    assert count[0] == "source\ttokens\tcharacters\tinput cost\tcontext"
    assert [line.split("\t")[0] for line in count[1:]] == [str(a), str(b), "total"]
    single = gptcli("count", "-f", str(a)).stdout.splitlines()
    assert single[0] == "field\tvalue" and single[1].startswith("tokens\t")

    show = gptcli("profiles", "show", "default").stdout.splitlines()
    assert show[0] == "key\tvalue\tfrom"
    assert all(len(line.split("\t")) == 3 for line in show)

    assert gptcli("ask", "hello").code == 0
    replay = gptcli("replay").stdout.splitlines()
    assert replay[0] == "id\tdate\tprofile\tmodel\tturns\tcost\tfirst prompt"
    assert len(replay) == 2 and replay[1].split("\t")[6] == "hello"
    assert json.loads(gptcli("replay", "--json").stdout)[0]["first_prompt"] == "hello"  # JSON unchanged


def test_a_tab_or_newline_in_a_cell_stays_in_its_row(gptcli, isolated: Path) -> None:
    write_profile(isolated, "odd", 'model = "m"\ndescription = "a\\tb\\nc"\n')
    lines = gptcli("profiles", "list").stdout.splitlines()
    row = next(line for line in lines if line.startswith("odd\t")).split("\t")
    assert row == ["odd", "m", "user", "a b c"]
