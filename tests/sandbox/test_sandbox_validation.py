"""POST /videos/generation accepts what the vendor guide allows; the rest gets 400 naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sandbox_helpers import Api

from photogpt_batch.sandbox.validation import MODEL_GROUPS, RequestInvalid, validate_generation


def body(model: str = "veo-3.1", **fields: Any) -> dict[str, Any]:
    return {"modelID": model, "prompt": "a product on wet stone", **fields}


def opts(model: str, group: str, **options: Any) -> dict[str, Any]:
    return body(model, options={group: options})


def image(role: str = "first_frame", url: str = "https://example.com/a.png", **extra: Any) -> dict[str, Any]:
    return {"url": url, "role": role, **extra}


def video(url: str = "https://example.com/m.mp4", **extra: Any) -> dict[str, Any]:
    return {"url": url, "role": "reference_video", **extra}


# (id, body, text the 400 message must contain)
BAD: list[tuple[str, Any, str]] = [
    ("body-not-object", [], "body"),
    ("model-missing", {"prompt": "p"}, "modelID"),
    ("model-unknown", body("veo-9"), "modelID"),
    ("model-not-string", body(3), "modelID"),  # type: ignore[arg-type]  # a number, on purpose
    ("prompt-missing", {"modelID": "veo-3.1"}, "prompt"),
    ("prompt-empty", body(prompt=""), "prompt"),
    ("prompt-not-string", body(prompt=["p"]), "prompt"),
    ("unknown-top-level", body(webhook="https://x"), "webhook"),
    ("numVideos-zero", body(numVideos=0), "numVideos"),
    ("numVideos-float", body(numVideos=2.0), "numVideos"),
    ("numVideos-bool", body(numVideos=True), "numVideos"),
    ("numVideos-string", body(numVideos="2"), "numVideos"),
    ("numVideos-null", body(numVideos=None), "numVideos"),
    ("options-list", body(options=[]), "options"),
    ("options-wrong-group", body(options={"seedance": {}}), "options.seedance"),
    ("options-two-groups", body(options={"veo": {}, "grok": {}}), "options.grok"),
    ("options-group-not-object", body(options={"veo": 8}), "options.veo"),
    ("veo-aspect", opts("veo-3.1", "veo", aspectRatio="4:3"), "options.veo.aspectRatio"),
    ("veo-duration-5", opts("veo-3.1", "veo", duration=5), "options.veo.duration"),
    ("veo-duration-float", opts("veo-3.1", "veo", duration=8.0), "options.veo.duration"),
    ("veo-duration-string", opts("veo-3.1-fast", "veo", duration="8"), "options.veo.duration"),
    ("veo-resolution", opts("veo-3.1", "veo", resolution="480p"), "options.veo.resolution"),
    ("veo-enhance-string", opts("veo-3.1", "veo", enhancePrompt="yes"), "options.veo.enhancePrompt"),
    ("veo-audio-int", opts("veo-3.1", "veo", generateAudio=1), "options.veo.generateAudio"),
    ("veo-negative-int", opts("veo-3.1", "veo", negativePrompt=3), "options.veo.negativePrompt"),
    ("veo-seed-float", opts("veo-3.1", "veo", seed=1.5), "options.veo.seed"),
    ("veo-seed-bool", opts("veo-3.1", "veo", seed=True), "options.veo.seed"),
    ("veo-unknown-option", opts("veo-3.1", "veo", fps=24), "options.veo.fps"),
    ("veo-returnLastFrame", opts("veo-3.1", "veo", returnLastFrame=True), "options.veo.returnLastFrame"),
    (
        "veo-reference-image-needs-8s",
        body(referenceImages=[image("reference_image")], options={"veo": {"duration": 6}}),
        "options.veo.duration",
    ),
    ("images-not-list", body(referenceImages={"url": "https://x/a.png"}), "referenceImages"),
    ("image-not-object", body(referenceImages=["https://x/a.png"]), "referenceImages[0]"),
    ("image-url-missing", body(referenceImages=[{"role": "first_frame"}]), "referenceImages[0].url"),
    ("image-role-missing", body(referenceImages=[{"url": "https://x/a.png"}]), "referenceImages[0].role"),
    ("image-role-unknown", body(referenceImages=[image("hero")]), "referenceImages[0].role"),
    ("image-url-ftp", body(referenceImages=[image(url="ftp://x/a.png")]), "referenceImages[0].url"),
    ("image-url-relative", body(referenceImages=[image(url="a.png")]), "referenceImages[0].url"),
    ("image-containsHuman", body(referenceImages=[image(containsHuman=True)]), "backend-only"),
    ("image-extra-field", body(referenceImages=[image(weight=0.5)]), "referenceImages[0].weight"),
    ("two-first-frames", body(referenceImages=[image(), image()]), "first_frame"),
    ("two-last-frames", body(referenceImages=[image("last_frame"), image("last_frame")]), "last_frame"),
    ("videos-on-veo", body(referenceVideos=[video()]), "referenceVideos"),
    ("videos-on-kling-video", body("kling-video-pro", referenceVideos=[video()]), "referenceVideos"),
    ("videos-on-seedance-1.5", body("seedance-1.5-pro", referenceVideos=[video()]), "referenceVideos"),
    ("videos-on-grok", body("grok-imagine-1.5", referenceVideos=[video()]), "referenceVideos"),
    ("video-duration", body("seedance-2.0", referenceVideos=[video(duration=4)]), "backend-only"),
    (
        "video-role",
        body("seedance-2.0", referenceVideos=[video() | {"role": "reference_image"}]),
        "referenceVideos[0].role",
    ),
    (
        "video-url-missing",
        body("seedance-2.0", referenceVideos=[{"role": "reference_video"}]),
        "referenceVideos[0].url",
    ),
    ("video-extra-field", body("seedance-2.0", referenceVideos=[video(fps=30)]), "referenceVideos[0].fps"),
    ("seedance2-four-videos", body("seedance-2.0", referenceVideos=[video()] * 4), "referenceVideos"),
    (
        "seedance2-ten-images",
        body("seedance-2.0", referenceImages=[image("reference_image")] * 10),
        "referenceImages",
    ),
    (
        "seedance2-draftMode",
        opts("seedance-2.0", "seedance", draftMode=True),
        "draftMode is only supported by seedance-1.5-pro",
    ),
    ("seedance2-duration-3", opts("seedance-2.0", "seedance", duration=3), "options.seedance.duration"),
    ("seedance2-duration-16", opts("seedance-2.0", "seedance", duration=16), "options.seedance.duration"),
    ("seedance2-duration-auto", opts("seedance-2.0", "seedance", duration=-1), "options.seedance.duration"),
    ("seedance-ratio", opts("seedance-2.0", "seedance", ratio="2:1"), "options.seedance.ratio"),
    ("seedance-resolution", opts("seedance-2.0", "seedance", resolution="4k"), "options.seedance.resolution"),
    (
        "seedance-aspectRatio",
        opts("seedance-2.0", "seedance", aspectRatio="16:9"),
        "options.seedance.aspectRatio",
    ),
    (
        "seedance15-duration-13",
        opts("seedance-1.5-pro", "seedance", duration=13),
        "options.seedance.duration",
    ),
    ("seedance15-duration-0", opts("seedance-1.5-pro", "seedance", duration=0), "options.seedance.duration"),
    (
        "seedance-lastframe-string",
        opts("seedance-1.5-pro", "seedance", returnLastFrame="true"),
        "options.seedance.returnLastFrame",
    ),
    (
        "seedance-draft-string",
        opts("seedance-1.5-pro", "seedance", draftMode="on"),
        "options.seedance.draftMode",
    ),
    ("kling-duration-2", opts("kling-video-standard", "kling", duration=2), "options.kling.duration"),
    ("kling-duration-16", opts("kling-video-pro", "kling", duration=16), "options.kling.duration"),
    ("kling-aspect", opts("kling-video-pro", "kling", aspectRatio="4:3"), "options.kling.aspectRatio"),
    (
        "kling-video-orientation",
        opts("kling-video-standard", "kling", characterOrientation="image"),
        "options.kling.characterOrientation",
    ),
    (
        "kling-video-five-items",
        body(
            "kling-video-standard",
            elementIDs=["e1", "e2", "e3"],
            referenceImages=[image(), image("last_frame")],
        ),
        "at most 4",
    ),
    ("motion-duration", opts("kling-motion-standard", "kling", duration=5), "do not accept duration"),
    ("motion-aspect", opts("kling-motion-pro", "kling", aspectRatio="16:9"), "do not accept aspectRatio"),
    ("motion-audio", opts("kling-motion-pro", "kling", generateAudio=False), "do not accept generateAudio"),
    (
        "motion-orientation",
        opts("kling-motion-pro", "kling", characterOrientation="side"),
        "options.kling.characterOrientation",
    ),
    (
        "motion-keep-sound",
        opts("kling-motion-standard", "kling", keepOriginalSound="no"),
        "options.kling.keepOriginalSound",
    ),
    (
        "motion-five-items",
        body(
            "kling-motion-pro",
            elementIDs=["e1", "e2"],
            referenceImages=[image()],
            referenceVideos=[video()] * 2,
        ),
        "at most 4",
    ),
    ("grok-duration-0", opts("grok-imagine-1.5", "grok", duration=0), "options.grok.duration"),
    ("grok-duration-16", opts("grok-imagine-1.5", "grok", duration=16), "options.grok.duration"),
    ("grok-aspect", opts("grok-imagine-1.5", "grok", aspectRatio="21:9"), "options.grok.aspectRatio"),
    ("grok-resolution", opts("grok-imagine-1.5", "grok", resolution="1080p"), "options.grok.resolution"),
    ("elements-not-list", body(elementIDs="e1"), "elementIDs"),
    ("element-empty", body(elementIDs=[""]), "elementIDs[0]"),
    ("element-not-string", body(elementIDs=[3]), "elementIDs[0]"),
]

GOOD: list[tuple[str, dict[str, Any]]] = [
    (
        "veo-guide-example",
        opts(
            "veo-3.1",
            "veo",
            duration=8,
            aspectRatio="16:9",
            resolution="1080p",
            generateAudio=False,
            enhancePrompt=True,
            negativePrompt="blur, low quality, distorted text",
        )
        | {"numVideos": 1},
    ),
    ("veo-fast-minimal", body("veo-3.1-fast")),
    # The guide lists options among the optional fields: absent and empty are the same.
    *[(f"{model}-options-empty", body(model, options={})) for model in MODEL_GROUPS],
    *[(f"{model}-no-options", body(model)) for model in MODEL_GROUPS],
    ("veo-seed-aspect", opts("veo-3.1-fast", "veo", seed=42, aspectRatio="9:16", duration=4)),
    (
        "veo-reference-image-8s",
        body(referenceImages=[image("reference_image")], options={"veo": {"duration": 8}}),
    ),
    ("veo-reference-image-default", body(referenceImages=[image("reference_image")])),
    ("veo-first-and-last", body(referenceImages=[image(), image("last_frame")])),
    ("veo-elements", body(elementIDs=["el_1"])),
    ("veo-no-videos", body(referenceVideos=[])),
    (
        "seedance2-guide-image",
        body(
            "seedance-2.0",
            numVideos=1,
            referenceImages=[image()],
            options={
                "seedance": {
                    "duration": 6,
                    "ratio": "16:9",
                    "resolution": "1080p",
                    "generateAudio": False,
                    "returnLastFrame": True,
                }
            },
        ),
    ),
    (
        "seedance2-guide-video",
        body(
            "seedance-2.0",
            referenceVideos=[video()],
            options={
                "seedance": {"duration": 8, "ratio": "16:9", "resolution": "720p", "generateAudio": False}
            },
        ),
    ),
    (
        "seedance2-limits",
        body(
            "seedance-2.0",
            referenceImages=[image("reference_image")] * 9,
            referenceVideos=[video()] * 3,
            options={"seedance": {"duration": 15, "ratio": "adaptive", "seed": 7}},
        ),
    ),
    ("seedance2-video-without-role", body("seedance-2.0", referenceVideos=[{"url": "https://x/m.mp4"}])),
    ("seedance15-draft", opts("seedance-1.5-pro", "seedance", draftMode=True, resolution="1080p")),
    ("seedance15-auto", opts("seedance-1.5-pro", "seedance", duration=-1, ratio="21:9")),
    ("seedance15-12s", opts("seedance-1.5-pro", "seedance", duration=12, returnLastFrame=False)),
    (
        "seedance15-reference-image-dropped",
        body("seedance-1.5-pro", referenceImages=[image("reference_image")]),
    ),
    (
        "kling-standard",
        opts("kling-video-standard", "kling", duration=3, aspectRatio="1:1", generateAudio=True),
    ),
    (
        "kling-pro-four-items",
        body(
            "kling-video-pro",
            elementIDs=["e1", "e2"],
            referenceImages=[image(), image("last_frame")],
            options={"kling": {"duration": 15, "aspectRatio": "9:16"}},
        ),
    ),
    (
        "motion-standard",
        opts("kling-motion-standard", "kling", characterOrientation="image", keepOriginalSound=False),
    ),
    (
        "motion-pro-four-items",
        body(
            "kling-motion-pro",
            elementIDs=["e1"],
            referenceImages=[image()],
            referenceVideos=[video(), {"url": "http://x/m2.mp4"}],
        ),
    ),
    ("grok", opts("grok-imagine-1.5", "grok", duration=1, aspectRatio="2:3", resolution="720p")),
    ("grok-15s", opts("grok-imagine-1.5", "grok", duration=15)),
    ("num-videos-3", body(numVideos=3)),
]


@pytest.mark.parametrize(("case", "payload", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_body_is_rejected_naming_the_field(case: str, payload: Any, named: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        validate_generation(copy.deepcopy(payload))
    assert named in caught.value.message


@pytest.mark.parametrize(("case", "payload"), GOOD, ids=[g[0] for g in GOOD])
def test_good_body_is_accepted(case: str, payload: dict[str, Any]) -> None:
    generation = validate_generation(copy.deepcopy(payload))
    assert generation.model_id == payload["modelID"]


@pytest.mark.parametrize(("case", "payload", "named"), BAD, ids=[b[0] for b in BAD])
async def test_bad_body_gets_400_nok_naming_the_field(api: Api, case: str, payload: Any, named: str) -> None:
    status, data = await api.post(payload)
    assert status == 400
    assert data["status"] == "NOK" and data["result"] is None
    assert named in data["message"]
    assert api.sandbox.jobs == {}


@pytest.mark.parametrize(("case", "payload"), GOOD, ids=[g[0] for g in GOOD])
async def test_good_body_gets_200_with_a_queued_job(api: Api, case: str, payload: dict[str, Any]) -> None:
    status, data = await api.post(payload)
    assert status == 200, data
    assert data["status"] == "OK"
    assert data["result"]["status"] == "queued"
    assert data["result"]["jobId"] in api.sandbox.jobs


async def test_body_that_is_not_json_gets_400(api: Api) -> None:
    status, data = await api.request("POST", "/videos/generation", data=b"{not json")
    assert status == 400
    assert data["status"] == "NOK"
    assert "JSON" in data["message"]


async def test_nan_is_not_json(api: Api) -> None:
    raw = b'{"modelID": "veo-3.1", "prompt": "p", "options": {"veo": {"seed": NaN}}}'
    status, data = await api.request("POST", "/videos/generation", data=raw)
    assert status == 400
    assert "JSON" in data["message"]


def test_draft_mode_renders_480p_whatever_the_resolution() -> None:
    generation = validate_generation(opts("seedance-1.5-pro", "seedance", draftMode=True, resolution="1080p"))
    assert generation.resolution == "480p"


def test_every_model_of_the_guide_is_known() -> None:
    for model in (
        "veo-3.1",
        "veo-3.1-fast",
        "seedance-1.5-pro",
        "seedance-2.0",
        "kling-video-standard",
        "kling-video-pro",
        "kling-motion-standard",
        "kling-motion-pro",
        "grok-imagine-1.5",
    ):
        assert validate_generation(body(model)).model_id == model
