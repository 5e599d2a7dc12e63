"""Attachments (``-a``, issue 19): detection, counting, the parts that arrive, the stash, replay."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import pytest

from conftest import read_jsonl


def png(path: Path, size: tuple[int, int] = (1024, 1024), color: str = "red") -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path, format="PNG")
    return path


def pdf(path: Path, pages: int = 2) -> Path:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=612, height=792)
    with open(path, "wb") as f:
        w.write(f)
    return path


def wav(path: Path, seconds: float = 1.0) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return path


def user_parts(body: dict) -> list[dict]:
    content = body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return content


# -- detection ---------------------------------------------------------------------------


def test_type_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    from gptcli.attachments.detect import load

    disguised = png(tmp_path / "notes.txt")
    a = load(str(disguised))
    assert (a.kind, a.mime, a.name) == ("image", "image/png", "notes.txt")
    assert load(str(pdf(tmp_path / "x.bin"))).kind == "pdf"
    assert load(str(wav(tmp_path / "x.dat"))).fmt == "wav"
    text = tmp_path / "t.png"
    text.write_text("just text\n")
    assert load(str(text)).kind == "text"
    u = load("https://example.com/cat.jpg", detail="low")
    assert (u.kind, u.url, u.data, u.detail) == ("image", "https://example.com/cat.jpg", None, "low")


def test_unsupported_type_is_exit_2_naming_it_and_what_is_accepted(gptcli, tmp_path: Path) -> None:
    z = tmp_path / "a.zip"
    import zipfile

    with zipfile.ZipFile(z, "w") as f:
        f.writestr("x", "y")
    r = gptcli("count", "-a", str(z), "hi")
    assert r.code == 2
    assert "application/zip" in r.stderr and "PNG, JPEG, WebP or GIF" in r.stderr and "PDF" in r.stderr


def test_missing_file_is_exit_2(gptcli, tmp_path: Path) -> None:
    r = gptcli("count", "-a", str(tmp_path / "nope.png"), "hi")
    assert r.code == 2 and "no such file to attach" in r.stderr


def test_image_over_20_mb_is_refused(tmp_path: Path) -> None:
    from gptcli.attachments import detect
    from gptcli.errors import UsageError

    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (20 * detect.MB)
    with pytest.raises(UsageError, match="at most 20 MB"):
        detect.from_bytes(big, "big.png")


# -- count -a ----------------------------------------------------------------------------


def test_count_a_gives_the_image_tokens_and_cost_before_any_call(gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "photo.png")
    r = gptcli("count", "-a", str(img), "-m", "gpt-4o", "--json", "Describe")
    assert r.code == 0, r.stderr
    data = r.json()
    image = next(i for i in data["items"] if i["source"] == "photo.png")
    assert image["kind"] == "image" and image["tokens"] == 765 and image["input_cost"] > 0
    assert data["total"]["tokens"] == 765 + next(i for i in data["items"] if i["source"] == "text")["tokens"]
    low = gptcli("count", "-a", str(img), "--detail", "low", "-m", "gpt-4o", "--json").json()
    assert low["items"][0]["tokens"] == 85


def test_count_a_from_stdin_and_an_unfetched_url(gptcli, tmp_path: Path) -> None:
    data = png(tmp_path / "p.png", (512, 512)).read_bytes()
    r = gptcli("count", "-a", "-", "-a", "https://example.com/c.png", "-m", "gpt-4.1-mini", "--json", input=data)
    assert r.code == 0, r.stderr
    items = r.json()["items"]
    assert items[0]["source"] == "stdin" and items[0]["tokens"] == 415  # ceil(16 x 16 patches x 1.62)
    assert items[1]["tokens"] == 2489 and "not fetched" in items[1]["note"]


def test_count_a_pdf_and_audio_are_approximate_and_labelled(gptcli, tmp_path: Path) -> None:
    r = gptcli("count", "-a", str(pdf(tmp_path / "d.pdf")), "-a", str(wav(tmp_path / "v.wav", 2.0)), "-m", "gpt-4o")
    assert r.code == 0, r.stderr
    assert "d.pdf ~" in r.stdout and "v.wav ~" in r.stdout
    assert "PDF of 2 pages" in r.stderr and "audio of 2.0 s" in r.stderr


def test_count_warns_when_the_model_takes_no_images(gptcli, tmp_path: Path) -> None:
    r = gptcli("count", "-a", str(png(tmp_path / "p.png")), "-m", "gpt-3.5-turbo")
    assert r.code == 0
    assert "gpt-3.5-turbo does not take images" in r.stderr and "gpt-4o" in r.stderr


def test_count_does_not_import_pillow_without_attachments(tmp_path: Path) -> None:
    import subprocess
    import sys

    from helpers import env_for_subprocess

    code = "import sys, gptcli.cli.count, gptcli.tokens.counting; print('PIL' in sys.modules, 'pypdf' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_for_subprocess())
    assert out.stdout.strip() == "False False", out.stderr


# -- batch ---------------------------------------------------------------------------------


def test_batch_of_50_with_images_runs_and_resumes(server, gptcli, tmp_path: Path) -> None:
    from fakeserver import Reply

    (tmp_path / "imgs").mkdir()
    rows = ["id,prompt,image"]
    for i in range(50):
        png(tmp_path / "imgs" / f"p{i}.png", (64 + i, 64), "blue")
        rows.append(f"{i},Caption {i},imgs/p{i}.png")
    src = tmp_path / "photos.csv"
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "captions.jsonl"
    server.enqueue(Reply(status=500), times=3)  # three items fail, --retries 0
    r = gptcli(
        "batch",
        str(src),
        "--column",
        "prompt",
        "--attach-column",
        "image",
        "-o",
        str(out),
        "-j",
        "1",
        "--retries",
        "0",
        "-m",
        "gpt-4o",
    )
    assert r.code == 10, r.stderr
    first = server.chat_requests()
    assert len(first) == 50
    for body in first:
        text, image = user_parts(body)
        n = int(text["text"].split()[-1])
        expected = base64.b64encode((tmp_path / "imgs" / f"p{n}.png").read_bytes()).decode()
        assert image == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{expected}"}}
    records = read_jsonl(out)
    failed = sorted(rec["id"] for rec in records if rec["error"] is not None)
    assert len(failed) == 3 and "base64" not in out.read_text()

    server.reset()
    r = gptcli(
        "batch", str(src), "--column", "prompt", "--attach-column", "image", "-o", str(out), "--resume", "-m", "gpt-4o"
    )
    assert r.code == 0, r.stderr
    again = server.chat_requests()
    assert sorted(int(user_parts(b)[0]["text"].split()[-1]) for b in again) == [int(i) for i in failed]
    assert all(user_parts(b)[1]["type"] == "image_url" for b in again)
    final = read_jsonl(out)
    assert sorted(int(rec["id"]) for rec in final) == list(range(50))
    assert all(rec["error"] is None for rec in final)


def test_batch_refuses_a_text_only_model_before_sending(server, gptcli, tmp_path: Path) -> None:
    png(tmp_path / "a.png", (32, 32))
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "what is it", "image": "a.png"}\n')
    r = gptcli("batch", str(src), "--attach-column", "image", "-m", "gpt-3.5-turbo")
    assert r.code == 3, r.stderr
    assert "does not take images" in r.stderr and server.chat_requests() == []
