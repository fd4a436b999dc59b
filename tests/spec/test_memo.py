"""The spec's memo (`spec.memo`): a load that changed nothing gives back the campaign the last one made, equal to
a fresh load, without expanding the spec; a change to anything the load read or ran is a miss, and the new
content is used; a damaged memo or a state folder that cannot be written is a miss, never an error."""

from __future__ import annotations

import marshal
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asset_helpers import png
from cli_in_process import run_main
from engine_helpers import wait_for_the_clock_to_pass

import photogpt_batch.spec.build as build_module
from photogpt_batch.campaign import Campaign
from photogpt_batch.cli.common import load_for_command
from photogpt_batch.io import fsclock
from photogpt_batch.io.reads import Reads
from photogpt_batch.plugins import build_registry, get_registry, make_plugin_host
from photogpt_batch.spec import memo
from photogpt_batch.spec.diagnostics import SpecError
from photogpt_batch.spec.expand import iter_expand
from photogpt_batch.spec.load import load_campaign
from photogpt_batch.state_dir import state_dir

ROOT = Path(__file__).parents[2]
CORPUS = Path(__file__).parent / "corpus"

CSV = "sku,name\nA17,amber bottle\nB02,green flask\n"
ROWS_SPEC = """version: 1
campaign: rows
jobs:
  - id: "sku-{sku}"
    model: veo-3.1
    rows: products.csv
    prompt: "{name} on wet stone"
"""


@pytest.fixture
def expansions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The specs expanded from now on (`iter_expand`, which a memo's hit never calls), by file."""
    seen: list[str] = []

    def counting(doc: Any, file: str) -> Any:
        seen.append(file)
        return iter_expand(doc, file)

    monkeypatch.setattr(build_module, "iter_expand", counting)
    return seen


def memo_files(state_home: Path) -> list[Path]:
    return sorted((state_home / "photogpt-batch" / memo.FOLDER).glob(f"*{memo.SUFFIX}"))


def settled(*paths: Path) -> None:
    """Wait until the state folder's file system clock has passed ``paths``' ctimes: a load keeps a memo only of
    files that cannot change again within the tick of their last change (polled, not slept)."""
    wait_for_the_clock_to_pass(*paths, clock=state_dir())


def fresh_and_memo(spec: Path, **kwargs: Any) -> tuple[Campaign, Campaign]:
    """A load without the memo, then one that writes it."""
    return load_campaign(spec, **kwargs), load_campaign(spec, memo=True, **kwargs)


def same(a: Campaign, b: Campaign) -> None:
    """Equal, and equal in every value's type too (repr tells 8 from 8.0 and True from 1, which == does not)."""
    assert a == b
    assert repr(a) == repr(b)


def rows_spec(folder: Path, csv: str = CSV) -> Path:
    """A spec of two jobs from a rows file, the file settled (a load of it is kept)."""
    (folder / "products.csv").write_text(csv, encoding="utf-8")
    spec = folder / "rows.yaml"
    spec.write_text(ROWS_SPEC, encoding="utf-8")
    settled(folder / "products.csv")
    return spec


def matrix_spec(folder: Path, jobs: int = 2000) -> Path:
    """The benchmark's matrix campaign of about ``jobs`` jobs."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_specs
    finally:
        sys.path.remove(str(ROOT / "bench"))
    spec = folder / "matrix.yaml"
    spec.write_text(bench_specs.campaign_yaml(*bench_specs.shape(jobs)), encoding="utf-8")
    return spec


@pytest.mark.parametrize("spec", [*sorted((ROOT / "specs").glob("*.yaml")), "matrix"],
                         ids=lambda s: s if isinstance(s, str) else s.name)
def test_a_hit_gives_the_campaign_a_fresh_load_gives_without_expanding_the_spec(
        spec: Path | str, tmp_path: Path, state_home: Path, expansions: list[str]) -> None:
    path = matrix_spec(tmp_path) if spec == "matrix" else Path(spec)
    fresh, first = fresh_and_memo(path)
    assert len(memo_files(state_home)) == 1
    same(first, fresh)
    expanded = len(expansions)
    hit = load_campaign(path, memo=True)
    assert len(expansions) == expanded  # nothing parsed or expanded: read back
    same(hit, fresh)
    assert hit.jobs and hit.jobs[0] is not first.jobs[0]  # a campaign of its own, not the memo's earlier one


def test_a_hit_hashes_no_file(state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ROOT / "specs" / "catalog.yaml"
    fresh, _ = fresh_and_memo(spec)
    assert fresh.assets
    monkeypatch.setattr(build_module, "LocalFiles", None)  # a hit that resolved a file: would raise TypeError
    same(load_campaign(spec, memo=True), fresh)


def test_an_edited_spec_is_a_miss_and_its_new_content_is_used(tmp_path: Path, expansions: list[str]) -> None:
    spec = rows_spec(tmp_path)
    fresh_and_memo(spec)
    spec.write_text(ROWS_SPEC.replace("on wet stone", "in snow"), encoding="utf-8")
    again = load_campaign(spec, memo=True)
    assert again.jobs[0].body["prompt"] == "amber bottle in snow"
    assert len(expansions) == 3
    same(load_campaign(spec, memo=True), again)
    assert len(expansions) == 3


def test_a_rows_file_edited_with_its_size_and_mtime_put_back_is_a_miss(
        tmp_path: Path, state_home: Path, expansions: list[str]) -> None:
    spec = rows_spec(tmp_path)
    data = tmp_path / "products.csv"
    fresh_and_memo(spec)
    before = data.stat()
    settled(data)
    data.write_text(CSV.replace("amber", "umber"), encoding="utf-8")  # same size
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = data.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    again = load_campaign(spec, memo=True)
    assert again.jobs[0].body["prompt"] == "umber bottle on wet stone"
    assert len(expansions) == 3


def test_a_removed_rows_file_is_a_miss_that_fails_as_without_a_memo(
        tmp_path: Path, state_home: Path) -> None:
    spec = rows_spec(tmp_path)
    fresh_and_memo(spec)
    (tmp_path / "products.csv").unlink()
    with pytest.raises(SpecError) as without:
        load_campaign(spec)
    with pytest.raises(SpecError) as with_memo:
        load_campaign(spec, memo=True)
    assert [d.format() for d in with_memo.value.diagnostics] == [d.format() for d in without.value.diagnostics]


def test_a_replaced_reference_image_is_a_miss_and_its_new_content_is_used(
        tmp_path: Path, state_home: Path, expansions: list[str]) -> None:
    (tmp_path / "photos").mkdir()
    photo = tmp_path / "photos" / "red.png"
    photo.write_bytes(png((200, 30, 30)))
    spec = tmp_path / "c.yaml"
    spec.write_text("version: 1\ncampaign: c\njobs:\n  - {id: a, model: veo-3.1, prompt: a bottle, "
                    "referenceImages: [{file: photos/red.png, role: first_frame}]}\n", encoding="utf-8")
    settled(photo)
    _, first = fresh_and_memo(spec)
    assert len(expansions) == 2 and load_campaign(spec, memo=True) == first and len(expansions) == 2
    replacement = tmp_path / "photos" / "new.png"
    replacement.write_bytes(png((30, 30, 200)))
    os.replace(replacement, photo)
    again = load_campaign(spec, memo=True)
    assert len(expansions) == 3
    assert again.jobs[0].body != first.jobs[0].body
    assert set(again.assets) != set(first.assets)
    assert again == load_campaign(spec)


def plugin_source(model_id: str, group: str) -> str:
    return f'''from photogpt_batch import Model, hookimpl


@hookimpl
def register_models(register):
    register(Model(id="{model_id}", family="tiny", option_group="{group}", description="A test model.",
                   options={{"seed": {{"type": "integer"}}}}))
'''


@pytest.fixture
def tiny_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A plugin module of this test's own, in a folder on sys.path: its file can be touched and rewritten."""
    folder = tmp_path / "plugin"
    folder.mkdir()
    module = folder / "memo_tiny_plugin.py"
    module.write_text(plugin_source("tiny-1", "tiny"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    yield module
    sys.modules.pop("memo_tiny_plugin", None)


def tiny_registry() -> Any:
    import importlib

    importlib.invalidate_caches()
    sys.modules.pop("memo_tiny_plugin", None)
    module = importlib.import_module("memo_tiny_plugin")
    return build_registry(make_plugin_host(load_entry_points=False, extra=[module]))


def tiny_spec(folder: Path) -> Path:
    spec = folder / "tiny.yaml"
    spec.write_text("version: 1\ncampaign: tiny\njobs:\n  - {id: a, model: tiny-1, prompt: p, options: {seed: 3}}\n",
                    encoding="utf-8")
    return spec


def test_a_touched_plugin_file_is_a_miss(tmp_path: Path, tiny_plugin: Path, expansions: list[str]) -> None:
    registry = tiny_registry()
    assert "tiny-1" in registry.models
    spec = tiny_spec(tmp_path)
    load_campaign(spec, registry, memo=True)
    load_campaign(spec, registry, memo=True)
    assert len(expansions) == 1
    found = tiny_plugin.stat()
    os.utime(tiny_plugin, ns=(found.st_atime_ns, found.st_mtime_ns + 1_000_000_000))
    load_campaign(spec, registry, memo=True)
    assert len(expansions) == 2


def test_a_plugin_rewritten_is_a_miss_and_its_new_code_is_used(tmp_path: Path, tiny_plugin: Path) -> None:
    spec = tiny_spec(tmp_path)
    first = load_campaign(spec, tiny_registry(), memo=True)
    assert first.jobs[0].body["options"] == {"tiny": {"seed": 3}}
    tiny_plugin.write_text(plugin_source("tiny-1", "smaller"), encoding="utf-8")  # another size: a fresh .pyc
    again = load_campaign(spec, tiny_registry(), memo=True)
    assert again.jobs[0].body["options"] == {"smaller": {"seed": 3}}


def test_the_tools_own_code_touched_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              expansions: list[str]) -> None:
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 1\n")
    monkeypatch.setattr(memo, "PACKAGE_ROOT", package)
    spec = rows_spec(tmp_path)
    load_campaign(spec, memo=True)
    load_campaign(spec, memo=True)
    assert len(expansions) == 1
    found = (package / "sub" / "b.py").stat()
    os.utime(package / "sub" / "b.py", ns=(found.st_atime_ns, found.st_mtime_ns + 1))
    load_campaign(spec, memo=True)
    assert len(expansions) == 2
    (package / "sub" / "c.py").write_text("")
    load_campaign(spec, memo=True)
    assert len(expansions) == 3


def test_another_plugin_selection_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            expansions: list[str]) -> None:
    spec = rows_spec(tmp_path)
    load_campaign(spec, memo=True)
    monkeypatch.setenv("PHOTOGPT_BATCH_PLUGINS", "veo")
    load_campaign(spec, memo=True)
    load_campaign(spec, memo=True)
    assert len(expansions) == 2
    monkeypatch.delenv("PHOTOGPT_BATCH_PLUGINS")
    load_campaign(spec, memo=True)
    assert len(expansions) == 3


def test_the_spec_named_by_another_path_is_a_miss_that_keeps_the_path_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expansions: list[str]) -> None:
    spec = rows_spec(tmp_path)
    load_campaign(spec, memo=True)
    monkeypatch.chdir(tmp_path)
    relative = load_campaign("rows.yaml", memo=True)
    assert len(expansions) == 2
    assert relative.spec_path == Path("rows.yaml")
    same(load_campaign("rows.yaml", memo=True), relative)
    assert len(expansions) == 2


def damage_truncated(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def damage_garbage(file: Path) -> None:
    file.write_bytes(os.urandom(4096))


def damage_changed_text(file: Path) -> None:
    data = file.read_bytes()
    at = data.rindex(b"cinematic")  # a prompt in the campaign's data: still marshal, another campaign
    file.write_bytes(data[:at] + b"cinemat1c" + data[at + len(b"cinematic"):])


def damage_format(file: Path) -> None:
    data = file.read_bytes()
    magic, form, major, minor, size = memo._PREFIX.unpack(data[: memo._PREFIX.size])
    file.write_bytes(memo._PREFIX.pack(magic, form + 1, major, minor, size) + data[memo._PREFIX.size:])


def damage_python(file: Path) -> None:
    data = file.read_bytes()
    magic, form, major, minor, size = memo._PREFIX.unpack(data[: memo._PREFIX.size])
    file.write_bytes(memo._PREFIX.pack(magic, form, major, minor + 1, size) + data[memo._PREFIX.size:])


def damage_header(file: Path) -> None:
    data = file.read_bytes()
    size = struct.unpack_from("<I", data, memo._PREFIX.size - 4)[0]
    header = marshal.dumps({"key": "another", "inputs": [], "data": ""})
    file.write_bytes(data[: memo._PREFIX.size - 4] + struct.pack("<I", len(header)) + header
                     + data[memo._PREFIX.size + size:])


def damage_empty(file: Path) -> None:
    file.write_bytes(b"")


@pytest.mark.parametrize("damage", [damage_truncated, damage_garbage, damage_changed_text, damage_format,
                                    damage_python, damage_header, damage_empty], ids=lambda f: f.__name__[7:])
def test_a_damaged_memo_is_a_miss_and_is_rewritten(damage: Any, tmp_path: Path, state_home: Path,
                                                    expansions: list[str]) -> None:
    spec = matrix_spec(tmp_path, 40)
    fresh, _ = fresh_and_memo(spec)
    [file] = memo_files(state_home)
    damage(file)
    same(load_campaign(spec, memo=True), fresh)
    assert len(expansions) == 3
    same(load_campaign(spec, memo=True), fresh)  # rewritten by the miss: a hit now
    assert len(expansions) == 3


@pytest.mark.parametrize("blocker", ["state folder is a file", "memo is a folder"])
def test_a_state_folder_that_cannot_be_written_does_not_fail_the_load(
        blocker: str, tmp_path: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = matrix_spec(tmp_path, 40)
    if blocker == "state folder is a file":
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-file"))
        (tmp_path / "a-file").write_text("")
    else:
        fresh_and_memo(spec)
        [file] = memo_files(state_home)
        file.unlink()
        file.mkdir()
    fresh, first = fresh_and_memo(spec)
    same(first, fresh)
    same(load_campaign(spec, memo=True), fresh)


def test_a_spec_with_warnings_is_never_kept_and_warns_every_time(tmp_path: Path, state_home: Path,
                                                                 expansions: list[str]) -> None:
    spec = tmp_path / "dropped.yaml"
    spec.write_text((CORPUS / "dropped_values.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    fresh, first = fresh_and_memo(spec)
    assert fresh.diagnostics and first.diagnostics == fresh.diagnostics
    assert load_campaign(spec, memo=True).diagnostics == fresh.diagnostics
    assert memo_files(state_home) == []


@pytest.mark.parametrize("name", ["matrix_errors.yaml", "ids.yaml", "yaml_1_1.yaml"])
def test_a_spec_with_errors_raises_the_same_with_or_without_a_memo(name: str, tmp_path: Path,
                                                                   state_home: Path) -> None:
    spec = tmp_path / name
    spec.write_text((CORPUS / name).read_text(encoding="utf-8"), encoding="utf-8")
    errors = []
    for use in (False, True, True):
        with pytest.raises(SpecError) as info:
            load_campaign(spec, memo=use)
        errors.append([d.format() for d in info.value.diagnostics])
    assert errors[0] == errors[1] == errors[2]
    assert memo_files(state_home) == []


def test_a_spec_broken_after_it_was_kept_raises(tmp_path: Path) -> None:
    spec = rows_spec(tmp_path)
    fresh_and_memo(spec)
    spec.write_text(ROWS_SPEC.replace("veo-3.1", "veo-9"), encoding="utf-8")
    with pytest.raises(SpecError, match="veo-9"):
        load_campaign(spec, memo=True)


def test_a_file_changed_within_the_clocks_tick_is_not_kept(tmp_path: Path, state_home: Path) -> None:
    spec = rows_spec(tmp_path)
    kept = memo.Memo(spec, spec.read_bytes(), get_registry())
    kept.begin()
    clock = os.stat(kept.folder)  # what begin read
    campaign = load_campaign(spec)
    recent, old, unsure = Reads(), Reads(), Reads()
    recent.files["/x"] = (clock.st_dev, 1, 2, 3, clock.st_ctime_ns)
    old.files["/x"] = (clock.st_dev, 1, 2, 3, clock.st_ctime_ns - 1)
    unsure.unsure = True
    for reads in (recent, unsure):
        kept.store(campaign, reads)
        assert memo_files(state_home) == []
    kept.store(campaign, old)
    assert memo_files(state_home) == [kept.file]


def test_a_file_on_another_device_must_be_older_by_a_margin() -> None:
    device, now = 5, 10_000_000_000
    assert fsclock.settled(5, now - 1, (device, now))
    assert not fsclock.settled(6, now - 1, (device, now))
    assert fsclock.settled(6, now - fsclock.OTHER_DEVICE_MARGIN_NS - 1, (device, now))
    assert not fsclock.settled(6, now - fsclock.OTHER_DEVICE_MARGIN_NS - 1, (device, now), other_devices=False)


def test_memos_beyond_the_bound_are_pruned_least_recently_used_first(tmp_path: Path) -> None:
    for i in range(memo.KEEP + 3):
        file = tmp_path / f"{i:02}{memo.SUFFIX}"
        file.write_bytes(b"")
        os.utime(file, ns=(0, (i + 1) * 1_000_000_000))
    stale, fresh_tmp = tmp_path / ".old.tmp", tmp_path / ".new.tmp"
    stale.write_bytes(b"")
    fresh_tmp.write_bytes(b"")
    os.utime(stale, (0, 0))
    memo.prune(tmp_path)
    assert sorted(p.name for p in tmp_path.glob(f"*{memo.SUFFIX}")) == [f"{i:02}{memo.SUFFIX}"
                                                                          for i in range(3, memo.KEEP + 3)]
    assert not stale.exists() and fresh_tmp.exists()


def test_memos_beyond_the_size_bound_are_pruned_and_the_newest_always_stays(tmp_path: Path) -> None:
    for i, size in enumerate((40, 30, 30, 50)):  # oldest first
        file = tmp_path / f"{i}{memo.SUFFIX}"
        file.write_bytes(b"x" * size)
        os.utime(file, ns=(0, (i + 1) * 1_000_000_000))
    memo.prune(tmp_path, max_bytes=100)  # newest first: 50, 30 (80), 30 (110: over), 40
    assert sorted(p.name for p in tmp_path.glob(f"*{memo.SUFFIX}")) == [f"2{memo.SUFFIX}", f"3{memo.SUFFIX}"]
    memo.prune(tmp_path, max_bytes=10)  # the most recently used stays, whatever its size
    assert [p.name for p in tmp_path.glob(f"*{memo.SUFFIX}")] == [f"3{memo.SUFFIX}"]


def test_a_hit_marks_its_memo_recently_used(tmp_path: Path, state_home: Path) -> None:
    spec = rows_spec(tmp_path)
    fresh_and_memo(spec)
    [file] = memo_files(state_home)
    os.utime(file, ns=(0, 0))
    load_campaign(spec, memo=True)
    assert file.stat().st_mtime_ns > 0


def test_validate_twice_prints_the_same(tmp_path: Path, state_home: Path) -> None:
    spec = rows_spec(tmp_path)
    first = run_main(["validate", str(spec)])
    assert memo_files(state_home)
    second = run_main(["validate", str(spec)])
    assert first.returncode == second.returncode == 0
    assert (first.stdout, first.stderr) == (second.stdout, second.stderr)
    assert "0 errors, 0 warnings, 2 jobs" in second.stdout


def test_commands_use_the_memo_and_rehash_does_not(tmp_path: Path, expansions: list[str],
                                                   fast_in_process_runs: None) -> None:
    spec = rows_spec(tmp_path)
    load_for_command(str(spec))
    load_for_command(str(spec))
    assert len(expansions) == 1
    assert run_main(["run", str(spec), "--sandbox", "--quiet", "--rehash"]).returncode == 0
    assert len(expansions) == 2
    assert run_main(["plan", str(spec)]).returncode == 0
    assert len(expansions) == 2


@pytest.mark.slow
def test_a_hit_imports_neither_the_yaml_parser_nor_json_schema(tmp_path: Path) -> None:
    """What a hit saves is also the full load's imports (a tenth of a second of every rerun): in a fresh
    interpreter, a load its memo answers imports neither ruamel.yaml, jsonschema nor the full load's module, and
    the code fingerprint is the same whether they were imported or not (the first load imported them)."""
    import subprocess

    code = ("import sys; from photogpt_batch.spec.load import load_campaign; "
            "load_campaign(sys.argv[1], memo=True); "
            "print(sorted(m for m in ('jsonschema', 'ruamel.yaml', 'photogpt_batch.spec.build') if m in sys.modules))")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    spec = str(ROOT / "specs" / "demo.yaml")
    loads = [subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True, check=True,
                            timeout=60).stdout.strip() for _ in range(2)]
    assert loads == ["['jsonschema', 'photogpt_batch.spec.build', 'ruamel.yaml']", "[]"]
