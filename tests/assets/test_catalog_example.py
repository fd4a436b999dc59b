"""The shipped catalog example (specs/catalog.yaml): one video per product row and ratio, each starting from its
product's own photo (specs/catalog/photos), run on the sandbox with no store configured."""

from __future__ import annotations

from pathlib import Path

import av
from engine_helpers import fast_sandbox, run_config
from PIL import Image

from photogpt_batch.assets.sandbox_store import SandboxStore
from photogpt_batch.runner import run_campaign
from photogpt_batch.sandbox import SandboxThread
from photogpt_batch.spec.load import load_campaign

SPECS = Path(__file__).parents[2] / "specs"


def first_frame_pixel(video: Path, at: tuple[int, int]) -> tuple[int, int, int]:
    with av.open(str(video)) as container:
        image = next(container.decode(video=0)).to_image()
    pixel = image.getpixel(at)
    assert isinstance(pixel, tuple) and len(pixel) == 3
    return (pixel[0], pixel[1], pixel[2])


def test_the_catalog_example_starts_each_video_from_its_products_photo(tmp_path: Path) -> None:
    campaign = load_campaign(SPECS / "catalog.yaml")
    campaign.output = tmp_path / "out"  # as --output does
    assert len(campaign.jobs) == 8 and len(campaign.assets) == 4
    photos = sorted((SPECS / "catalog/photos").glob("*.png"))
    assert [p.stem for p in photos] == ["A17", "B02", "C33", "D41"]
    assert all(p.stat().st_size < 8_000 for p in photos)  # small enough to ship
    with SandboxThread(fast_sandbox(fetch_references=True)) as sandbox:
        config = run_config(sandbox)
        config.store = SandboxStore(sandbox.files_url, sandbox.sandbox.signed_url)
        summary = run_campaign(campaign, config)
    assert summary.complete and summary.videos_downloaded == 8
    for photo in photos:
        background = Image.open(photo).convert("RGB").getpixel((5, 90))
        assert isinstance(background, tuple)
        for ratio in ("9x16", "16x9"):
            video = tmp_path / "out" / f"{photo.stem}-{ratio}" / "1.mp4"
            corner = first_frame_pixel(video, (3, 100))
            assert all(abs(a - b) < 40 for a, b in zip(corner, background, strict=True)), (video, corner)
