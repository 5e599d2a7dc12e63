"""Attachments (``-a``, issue 19): detection, counting, the parts that arrive, the stash, replay."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
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


def test_animated_gif_is_refused_and_the_server_records_parts(server, gptcli, tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    r = gptcli("ask", "-a", str(tmp_path / "a.gif"), "-m", "gpt-4o", "hi")
    assert r.code == 2 and "animated GIF" in r.stderr and server.chat_requests() == []
    frames[0].save(tmp_path / "still.gif")
    r = gptcli("ask", "-a", str(tmp_path / "still.gif"), "-m", "gpt-4o", "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"  # the loopback server answers the text part
    assert server.user_parts()[1]["image_url"]["url"].startswith("data:image/gif;base64,")


def test_image_over_20_mb_is_refused(tmp_path: Path) -> None:
    from gptcli.attachments import detect
    from gptcli.errors import ConfigError

    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (20 * detect.MB)
    with pytest.raises(ConfigError, match="at most 20 MB") as e:
        detect.from_bytes(big, "big.png")
    assert e.value.exit_code == 3


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


# -- ask -a: the request that arrives -------------------------------------------------------


def test_ask_image_file_arrives_as_a_data_url_part(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "shot.png", (100, 50))
    r = gptcli("ask", "-a", str(img), "-m", "gpt-4o", "What is wrong in this UI?")
    assert r.code == 0, r.stderr
    (body,) = server.chat_requests()
    b64 = base64.b64encode(img.read_bytes()).decode()
    assert user_parts(body) == [
        {"type": "text", "text": "What is wrong in this UI?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}},
    ]


def test_ask_image_url_is_passed_through_with_its_detail(server, gptcli) -> None:
    url = "https://example.com/chart.png"
    r = gptcli("ask", "-a", url, "--detail", "low", "-m", "gpt-4o", "One-line summary")
    assert r.code == 0, r.stderr
    (body,) = server.chat_requests()
    assert user_parts(body)[1] == {"type": "image_url", "image_url": {"url": url, "detail": "low"}}


def test_ask_stdin_image(server, gptcli, tmp_path: Path) -> None:
    data = png(tmp_path / "c.png", (20, 20)).read_bytes()
    r = gptcli("ask", "-a", "-", "-m", "gpt-4o", "Describe it", input=data)
    assert r.code == 0, r.stderr
    (body,) = server.chat_requests()
    text, image = user_parts(body)
    assert text == {"type": "text", "text": "Describe it"}  # stdin is the image, not the prompt
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(data).decode()


def test_ask_pdf_arrives_as_a_file_part(server, gptcli, tmp_path: Path) -> None:
    doc = pdf(tmp_path / "invoice.pdf", 1)
    r = gptcli("ask", "-a", str(doc), "-m", "gpt-4o", "Extract the fields")
    assert r.code == 0, r.stderr
    part = user_parts(server.chat_requests()[0])[1]
    b64 = base64.b64encode(doc.read_bytes()).decode()
    assert part == {
        "type": "file",
        "file": {"filename": "invoice.pdf", "file_data": f"data:application/pdf;base64,{b64}"},
    }


def test_ask_audio_arrives_as_input_audio(server, gptcli, tmp_path: Path) -> None:
    sound = wav(tmp_path / "q.wav", 0.5)
    from conftest import write_profile

    write_profile(tmp_path, "audio", 'model = "gpt-4o-audio-preview"\nmodalities = ["text", "audio"]\n')
    r = gptcli("ask", "-p", "audio", "-a", str(sound), "Answer the question")
    assert r.code == 0, r.stderr
    part = user_parts(server.chat_requests()[0])[1]
    assert part == {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(sound.read_bytes()).decode(), "format": "wav"},
    }


def test_text_only_model_is_refused_before_sending(server, gptcli, tmp_path: Path) -> None:
    r = gptcli("ask", "-a", str(png(tmp_path / "p.png")), "-m", "gpt-3.5-turbo", "What is it?")
    assert r.code == 3
    assert "gpt-3.5-turbo does not take images" in r.stderr and "gpt-4o" in r.stderr
    assert server.chat_requests() == []
    assert not (tmp_path / "gptcli" / "data" / "attachments").exists()


def test_profile_modalities_override_the_data(server, gptcli, tmp_path: Path) -> None:
    from conftest import write_profile

    write_profile(tmp_path, "local", 'model = "my-llava"\nmodalities = ["text"]\n')
    r = gptcli("ask", "-p", "local", "-a", str(png(tmp_path / "p.png")), "hi")
    assert r.code == 3 and "my-llava does not take images" in r.stderr


def test_dry_run_and_verbose_never_show_base64(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "shot.png", (1024, 1024))
    b64 = base64.b64encode(img.read_bytes()).decode()
    r = gptcli("ask", "--dry-run", "-a", str(img), "-m", "gpt-4o", "Describe")
    assert r.code == 0, r.stderr
    assert b64[:40] not in r.stdout and "base64" not in r.stdout
    part = r.json()["body"]["messages"][-1]["content"][1]
    assert part["type"] == "image" and part["tokens"] == 765 and part["bytes"] == img.stat().st_size
    assert len(part["sha256"]) == 64
    assert r.json()["estimate"]["prompt_tokens"] >= 765
    v = gptcli("ask", "-v", "-a", str(img), "-m", "gpt-4o", "Describe")
    assert v.code == 0, v.stderr
    assert "attached shot.png: image" in v.stderr and "765 tokens" in v.stderr
    assert b64[:40] not in v.stderr + v.stdout
    j = gptcli("ask", "--json", "-a", str(img), "-m", "gpt-4o", "Describe")
    assert j.code == 0, j.stderr
    (described,) = j.json()["attachments"]
    assert described["name"] == "shot.png" and described["tokens"] == 765 and "base64" not in j.stdout


def test_verbose_estimate_is_approximate_for_an_unfetched_url(server, gptcli) -> None:
    r = gptcli("ask", "-v", "-a", "https://example.com/x.png", "-m", "gpt-4o", "What is it?")
    assert r.code == 0, r.stderr
    assert "not fetched" not in r.stdout
    assert "gpt-4o · ~1," in r.stderr  # 1,445 for the image (the most one costs) + the text, estimated
    exact = gptcli("ask", "-v", "-a", "-", "-m", "gpt-4o", "What is it?", input=_png_bytes())
    assert exact.code == 0, exact.stderr
    assert "gpt-4o · ~" not in exact.stderr


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def test_max_cost_counts_the_image(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "big.png", (2048, 4096))
    r = gptcli("ask", "--max-cost", "0.0001", "-a", str(img), "-m", "gpt-4o", "Describe")
    assert r.code == 7, r.stderr  # 1,105 image tokens at $2.50/1M are more than $0.0001
    assert server.chat_requests() == []


# -- the log, the stash, replay -------------------------------------------------------------


def test_log_refers_to_the_stash_and_rerun_sends_identical_parts(server, gptcli, tmp_path: Path) -> None:
    from conftest import conversations, read_jsonl

    img = png(tmp_path / "shot.png", (64, 64))
    r = gptcli("ask", "-a", str(img), "-a", "https://example.com/x.png", "-m", "gpt-4o", "What is it?")
    assert r.code == 0, r.stderr
    sent = server.chat_requests()[0]["messages"][-1]
    (path,) = conversations(tmp_path)
    text = path.read_text()
    assert "base64" not in text
    user = next(rec for rec in read_jsonl(path) if rec.get("role") == "user")
    assert user["content"] == "What is it?"
    ref, url = user["attachments"]
    sha = hashlib.sha256(img.read_bytes()).hexdigest()
    assert ref == {
        "type": "image",
        "mime": "image/png",
        "name": "shot.png",
        "size": img.stat().st_size,
        "sha256": sha,
        "detail": None,
    }
    assert url == {"type": "image", "url": "https://example.com/x.png", "detail": None}
    stored = tmp_path / "gptcli" / "data" / "attachments" / sha[:2] / sha
    assert stored.read_bytes() == img.read_bytes()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(stored.parent.parent.stat().st_mode) == 0o700

    shown = gptcli("replay", path.stem)
    assert shown.code == 0, shown.stderr
    assert "[attachment] image shot.png" in shown.stdout and sha[:12] in shown.stdout

    server.clear()
    again = gptcli("replay", path.stem, "--rerun", "-m", "gpt-4o")
    assert again.code == 0, again.stderr
    assert server.chat_requests()[0]["messages"][-1] == sent  # byte-identical parts

    exported = gptcli("replay", path.stem, "--format", "openai")
    assert exported.code == 0, exported.stderr
    line = json.loads(exported.stdout)
    assert line["messages"][-2]["content"] == sent["content"]


def test_no_log_stores_nothing(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "p.png", (16, 16))
    r = gptcli("ask", "--no-log", "-a", str(img), "-m", "gpt-4o", "hi")
    assert r.code == 0, r.stderr
    assert not list((tmp_path / "gptcli").rglob("attachments"))


def test_continuing_resends_the_earlier_image(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "p.png", (16, 16))
    assert gptcli("ask", "-a", str(img), "-m", "gpt-4o", "What is it?").code == 0
    first = server.chat_requests()[0]["messages"][-1]
    r = gptcli("ask", "-c", "And its colour?")
    assert r.code == 0, r.stderr
    history = server.chat_requests()[1]["messages"]
    assert history[-3] == first and history[-1] == {"role": "user", "content": "And its colour?"}


def test_count_conversation_counts_its_images(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "p.png", (1024, 1024))
    assert gptcli("ask", "-a", str(img), "-m", "gpt-4o", "What is it?").code == 0
    from conftest import conversations

    (path,) = conversations(tmp_path)
    r = gptcli("count", "--conversation", path.stem, "-m", "gpt-4o", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["total"]["tokens"] > 765


def test_retry_of_a_failed_question_resends_its_image(server, gptcli, tmp_path: Path) -> None:
    from fakeserver import Reply

    img = png(tmp_path / "p.png", (16, 16))
    server.enqueue(Reply(status=400))
    assert gptcli("ask", "-a", str(img), "-m", "gpt-4o", "What is it?").code != 0
    first = server.chat_requests()[0]["messages"][-1]
    r = gptcli("ask", "-c", "--retry")
    assert r.code == 0, r.stderr
    assert server.chat_requests()[-1]["messages"][-1] == first


# -- chat ---------------------------------------------------------------------------------


def test_chat_attach_goes_with_the_next_message_only(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "diagram.png", (64, 64))
    other = png(tmp_path / "other.png", (32, 32), "green")
    script = (
        f"/attach {img}\n/attach {other}\n/attachments\n/detach 2\n/attachments\n"
        "What is in it?\nAnd the colour?\n/attach nope.png\n/detach\n"
    )
    r = gptcli("chat", "-m", "gpt-4o", input=script)
    assert r.code == 0, r.stderr
    first, second = server.chat_requests()
    b64 = base64.b64encode(img.read_bytes()).decode()
    assert user_parts(first) == [
        {"type": "text", "text": "What is in it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}},
    ]
    assert second["messages"][-3] == first["messages"][-1]  # history keeps the image
    assert second["messages"][-1] == {"role": "user", "content": "And the colour?"}
    assert "attached diagram.png: image" in r.stdout + r.stderr
    assert "1. diagram.png" in r.stdout + r.stderr and "2. other.png" in r.stdout + r.stderr
    assert "detached other.png" in r.stdout + r.stderr
    assert "no such file to attach: nope.png" in r.stderr
    assert "detached 0 attachments" in r.stdout + r.stderr
    assert b64[:40] not in r.stdout + r.stderr


def test_chat_attach_refuses_for_a_text_only_model(server, gptcli, tmp_path: Path) -> None:
    img = png(tmp_path / "p.png", (16, 16))
    r = gptcli("chat", "-m", "gpt-3.5-turbo", input=f"/attach {img}\nhello\n")
    assert r.code == 0, r.stderr
    assert "does not take images" in r.stderr
    assert server.chat_requests()[0]["messages"][-1] == {"role": "user", "content": "hello"}
