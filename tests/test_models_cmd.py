"""`gptcli models`: the server's /v1/models, with price and context window where known."""

from __future__ import annotations

from pathlib import Path

from conftest import SECRET_KEY
from gptcli import catalog
from gptcli.models import Price, Profile


def test_lists_the_servers_models(server, gptcli, isolated: Path) -> None:
    server.known_models = ["zeta-7b", "my-llm", "gpt-4o"]
    d = isolated / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True)
    (d / "mine.toml").write_text(
        'model = "my-llm"\ncontext_window = 32768\n[price]\ninput = 0.5\noutput = 1.5\n', encoding="utf-8"
    )
    r = gptcli("models", "-p", "mine", "--json")
    assert r.code == 0, r.stderr
    rows = r.json()
    assert [row["id"] for row in rows] == ["gpt-4o", "my-llm", "zeta-7b"]  # sorted
    mine = rows[1]
    assert mine["context_window"] == 32768 and mine["price_source"] == "profile"
    assert mine["price"] == {"input": 0.5, "cached_input": None, "output": 1.5}
    assert mine["owned_by"] == "fake" and mine["created"] == 1_700_000_000
    assert rows[2]["price"] is None and rows[2]["context_window"] is None  # unknown: never invented
    assert set(rows[0]) == {"id", "owned_by", "created", "context_window", "price", "price_source", "matched"}
    (req,) = server.requests
    assert (req.method, req.path) == ("GET", "/v1/models")
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in r.stdout + r.stderr

    # Piped: a header line, then tab-separated rows, easy to cut/awk; a filter on the id.
    r = gptcli("models", "-p", "mine", "LLM")
    assert r.code == 0, r.stderr
    assert r.stdout == "model\tcontext\tinput $/1M\toutput $/1M\towned by\nmy-llm\t32,768\t$0.5\t$1.5\tfake\n"


def test_local_profile_and_base_url_flag(server, gptcli) -> None:
    server.known_models = ["llama3.2", "qwen3"]
    r = gptcli("models", "-p", "local", "--base-url", server.url, "--json", env={"OPENAI_API_KEY": ""})
    assert r.code == 0, r.stderr
    rows = {row["id"]: row for row in r.json()}
    assert rows["llama3.2"]["price"]["input"] == 0.0 and rows["llama3.2"]["context_window"] == 8192
    assert rows["qwen3"]["price"] is None


def test_errors(server, gptcli) -> None:
    server.require_key = "sk-the-right-one"
    r = gptcli("models")
    assert r.code == 4 and "API key" in r.stderr
    assert "Traceback" not in r.stderr and SECRET_KEY not in r.stderr
    r = gptcli("models", "--base-url", "https://api.openai.com/v1", env={"OPENAI_API_KEY": ""})
    assert r.code == 4 and "OPENAI_API_KEY" in r.stderr


def test_unreachable_server_is_a_network_error(gptcli) -> None:
    r = gptcli("models", "--base-url", "http://127.0.0.1:9/v1", env={"OPENAI_API_KEY": "x"})
    assert r.code == 6 and "cannot reach" in r.stderr


def test_price_data_for_openai_models() -> None:
    # On OpenAI's host the bundled price data fills in what the profile does not say.
    row = catalog.describe("gpt-4o", Profile(model="gpt-4o-mini"))
    assert row.price is not None and row.price.input and row.price.output
    assert row.context_window and row.price_source == "genai-prices" and row.matched
    # The profile's own model: its price wins.
    own = catalog.describe("gpt-4o", Profile(model="gpt-4o", price=Price(1.0, None, 2.0), context_window=1000))
    assert own.price == Price(1.0, None, 2.0) and own.context_window == 1000 and own.price_source == "profile"
