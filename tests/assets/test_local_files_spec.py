"""``file:`` references at validate: checked, hashed, located errors in one pass, identity by content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from asset_helpers import png
from engine_helpers import wait_for_the_clock_to_pass

from photogpt_batch.assets.hashcache import HashCache
from photogpt_batch.assets.local import size_text
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.load import load_campaign


def spec(folder: Path, refs: str, name: str = "c") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"""version: 1
campaign: {name}
defaults: {{model: veo-3.1}}
jobs:
  - id: a
    prompt: a bottle
    referenceImages: {refs}
""", encoding="utf-8")
    return path


def test_a_file_reference_is_identified_by_its_content(photos: Path) -> None:
    campaign = load_campaign(spec(photos, "[{file: photos/red.png, role: first_frame}]"))
    sha = hashlib.sha256((photos / "photos/red.png").read_bytes()).hexdigest()
    assert campaign.jobs[0].body["referenceImages"] == [{"url": f"asset:sha256:{sha}.png", "role": "first_frame"}]
    assert set(campaign.assets) == {sha}
    assert campaign.assets[sha].mime == "image/png"
    before = campaign.jobs[0].content_hash

    (photos / "photos").rename(photos / "pictures")  # moved: the same job
    moved = load_campaign(spec(photos, "[{file: pictures/red.png, role: first_frame}]"))
    assert moved.jobs[0].content_hash == before

    (photos / "pictures/red.png").write_bytes(png((10, 10, 250)))  # edited: a changed job
    edited = load_campaign(spec(photos, "[{file: pictures/red.png, role: first_frame}]"))
    assert edited.jobs[0].content_hash != before


def test_bad_files_are_located_errors_in_one_pass(photos: Path) -> None:
    (photos / "photos/notes.png").write_text("not an image")
    big = photos / "photos/huge.png"
    with big.open("wb") as fh:  # a 2 GB "image" (sparse: nothing is written but its header)
        fh.write(png((1, 2, 3)))
        fh.truncate(2 * 1024**3)
    (photos / "photos/clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32)
    path = spec(photos, """
      - {file: photos/missing.png, role: first_frame}
      - {file: photos/notes.png, role: last_frame}
      - {file: ../../etc/passwd, role: reference_image}
      - {file: /etc/passwd, role: reference_image}
      - {file: photos/huge.png, role: reference_image}
      - {file: photos/clip.mp4, role: reference_image}""")
    with pytest.raises(SpecError) as info:
        load_campaign(path)
    text = "\n".join(f":{d.line}: {d.message}" for d in info.value.diagnostics)
    for expected in (":8:", "photos/missing.png: no such file",
                     ":9:", "photos/notes.png: not a PNG, JPEG or WebP image by its content",
                     ":10:", "../../etc/passwd: climbs out of the spec's folder",
                     ":11:", "/etc/passwd: an absolute path",
                     ":12:", "photos/huge.png: 2,147.5 MB is over the 52.4 MB accepted for a reference image",
                     ":13:", "photos/clip.mp4: not a PNG, JPEG or WebP image by its content: it is video (mp4)"):
        assert expected in text, text
    assert len(info.value.diagnostics) == 6


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_located_error(photos: Path) -> None:
    (photos / "photos/red.png").chmod(0)
    with pytest.raises(SpecError) as info:
        load_campaign(spec(photos, "[{file: photos/red.png, role: first_frame}]"))
    assert "photos/red.png: cannot be read" in str(info.value.diagnostics[0])


def test_url_and_file_together_and_a_written_asset_url_are_errors(photos: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_campaign(spec(photos, "[{file: photos/red.png, url: 'https://x.test/a.png', role: first_frame},"
                                   " {url: 'asset:sha256:00.png', role: last_frame}]"))
    text = "\n".join(str(d) for d in info.value.diagnostics)
    assert "give either url or file, not both" in text
    assert "is not an http(s) URL" in text


def test_the_hash_cache_reads_each_file_once(photos: Path, tmp_path: Path) -> None:
    path = photos / "photos/red.png"
    wait_for_the_clock_to_pass(path, clock=tmp_path / "state")
    first = HashCache(tmp_path / "state")
    digest = first.sha256(path, path.stat())
    first.save()
    again = HashCache(tmp_path / "state")
    assert again.sha256(path, path.stat()) == digest and again.hashed == 0
    path.write_bytes(png((1, 1, 1)))  # a changed file (size or mtime) is read again
    assert again.sha256(path, path.stat()) != digest and again.hashed == 1


def test_a_file_changed_with_its_size_and_mtime_put_back_is_hashed_again(photos: Path, tmp_path: Path) -> None:
    """The cache keys on the ctime too: an image edited in place and given back its size and mtime (as a copy that
    keeps times does) is a new content, so a new job version, not the old hash."""
    path = photos / "photos/red.png"
    wait_for_the_clock_to_pass(path, clock=tmp_path / "state")
    cache = HashCache(tmp_path / "state")
    before = path.stat()
    digest = cache.sha256(path, before)
    cache.save()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = HashCache(tmp_path / "state")
    assert again.sha256(path, after) == hashlib.sha256(bytes(data)).hexdigest() != digest
    assert again.hashed == 1


def test_a_file_that_changed_in_the_current_clock_tick_is_not_kept(photos: Path, tmp_path: Path) -> None:
    path = photos / "photos/red.png"
    cache = HashCache(tmp_path / "state")
    path.write_bytes(png((9, 9, 9)))  # after the cache read the clock: it may change again within the same tick
    cache.sha256(path, path.stat())
    cache.save()
    again = HashCache(tmp_path / "state")
    again.sha256(path, path.stat())
    assert again.hashed == 1


def test_sizes_are_shown_in_the_unit_that_fits() -> None:
    assert [size_text(n) for n in (0, 740, 3_400, 4_200_000, 2_147_483_648)] == [
        "0 bytes", "740 bytes", "3.4 kB", "4.2 MB", "2,147.5 MB"]
