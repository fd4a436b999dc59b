"""The per-file checks a rerun makes of every file it keeps, done with strings rather than pathlib: the same
answers as before, on real folders, links and files (paths in normal form, and the others)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from photogpt_batch.engine.fetch import hash_file
from photogpt_batch.io.durable import LinkRefused, owned_dirs
from photogpt_batch.review.data import _safe_relative


def test_owned_dirs_walks_every_folder_on_the_way(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "job" / "v2").mkdir(parents=True)
    assert owned_dirs(root, root)
    assert owned_dirs(root, root / "job" / "v2")
    assert owned_dirs(str(root), str(root / "job" / "v2"))
    assert not owned_dirs(root, root / "job" / "v3")
    assert not owned_dirs(root, root / "other" / "v1")


def test_owned_dirs_refuses_a_link_anywhere_on_the_way(tmp_path: Path) -> None:
    root = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "v2").mkdir(parents=True)
    root.mkdir()
    (root / "job").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LinkRefused) as refused:
        owned_dirs(root, root / "job" / "v2")
    assert refused.value.filename == str(root / "job")
    (root / "file").write_bytes(b"")
    with pytest.raises(LinkRefused, match="not a folder"):
        owned_dirs(root, root / "file" / "v1")


def test_owned_dirs_creates_one_folder_at_a_time(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    assert owned_dirs(root, root / "job" / "v2", create=True)
    assert (root / "job" / "v2").is_dir()


def test_owned_dirs_other_forms_of_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths not in normal form, a relative root, a folder outside the root: as pathlib's ``relative_to``."""
    monkeypatch.chdir(tmp_path)
    Path("job", "v2").mkdir(parents=True)
    assert owned_dirs(Path("."), Path("job", "v2"))
    assert owned_dirs(str(tmp_path), f"{tmp_path}/job//./v2")
    assert not owned_dirs(str(tmp_path), f"{tmp_path}/job/./v3")
    with pytest.raises(ValueError):
        owned_dirs(tmp_path / "job", tmp_path / "other")
    Path("elsewhere").mkdir()
    Path("link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(LinkRefused):
        owned_dirs(str(tmp_path), f"{tmp_path}//link")


@pytest.mark.parametrize("size", [0, 1, 3000, (1 << 18) - 1, 1 << 18, (1 << 20) + 7])
def test_hash_file_is_the_sha256_of_the_content(tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    path = tmp_path / "1.mp4"
    path.write_bytes(content)
    assert hash_file(path).hexdigest() == hashlib.sha256(content).hexdigest()
    assert hash_file(str(path)).hexdigest() == hashlib.sha256(content).hexdigest()
    resumed = hash_file(path)
    resumed.update(b"more")
    assert resumed.hexdigest() == hashlib.sha256(content + b"more").hexdigest()


@pytest.mark.parametrize(("path", "expected"), [
    ("hero/1.mp4", "hero/1.mp4"), ("hero/v2/1.mp4", "hero/v2/1.mp4"), ("x", "x"), ("a/..b", "a/..b"),
    ("hero//1.mp4", "hero/1.mp4"), ("./hero/1.mp4", "hero/1.mp4"), ("hero/./1.mp4", "hero/1.mp4"),
    ("hero/", "hero"), (".", "."),
    ("/etc/passwd", None), ("../x", None), ("hero/../../x", None), ("..", None), ("", None), (None, None),
])
def test_safe_relative(path: str | None, expected: str | None) -> None:
    assert _safe_relative(path) == expected
