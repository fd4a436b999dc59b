"""Downloads: one 1 GiB video through photogpt-batch, against curl on the same loopback URL; memory must stay flat.

    python bench/bench_downloads.py                       # 1 GiB, 3 rounds (curl and the tool interleaved)
    python bench/bench_downloads.py --bytes 20000000 --repeat 1 --json

The sandbox (its own process) serves the file from its file origin. The tool runs a one-job campaign
(``photogpt-batch run``, its own process); its download time is read from its ledger: from the video's
``ready`` transition to its ``downloaded`` transition, which covers the transfer, the sha256, the fsync and
the rename, i.e. everything the tool does before it vouches for a file. curl then fetches the same signed URL
to the same disk (``curl -o``: no hash, no fsync; a second curl figure adds ``sha256sum`` and ``sync`` for
reference). Peak RSS of the tool is compared with the same run on a 200 kB file: the difference is what the
big file costs in memory.

Targets: throughput ≥ 0.8 × curl's; peak RSS flat (here: within 20 MB of the 200 kB run).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    TARGET_DOWNLOAD_VS_CURL,
    SandboxProc,
    cli_argv,
    emit,
    expected_sha256,
    fmt,
    md_table,
    mp4_boxes,
    run_measured,
    sandbox_config,
    tool_env,
    verdict,
    write_campaign,
)

GIB = 1 << 30
FLAT_RSS_MB = 20.0


def tool_download(sb: SandboxProc, tmp: Path, name: str, video_bytes: int, check: bool) -> dict[str, Any]:
    """One ``run`` of a one-video campaign; the download's duration from the ledger's transitions."""
    from photogpt_batch.ledger import Ledger

    out = tmp / f"{name}-out"
    spec = tmp / f"{name}.yaml"
    write_campaign(spec, 1, name, out)
    measured = run_measured([*cli_argv(), "run", str(spec), "--concurrency", "1", "--downloads", "1", "--rate",
                             "1000", "--quiet", "--json"], env=tool_env(sb.api), cwd=tmp)
    if measured.returncode != 0:
        raise RuntimeError(f"photogpt-batch run failed: {measured.stderr[-2000:]}")
    with Ledger.open_for_reading(out) as ledger:
        record = ledger.jobs()[0]
        video = record.videos[0]
        events = {e.to_state: e.at for e in ledger.events(record.row) if e.n == video.n}
    # The signed URL, read from the ledger's table: records leave it out once the video is downloaded.
    from photogpt_batch.layout import ledger_path

    with contextlib.closing(sqlite3.connect(ledger_path(out))) as db:
        url = db.execute("SELECT url FROM videos WHERE job = ? AND n = ?", (record.row, video.n)).fetchone()[0]
    path = out / (video.path or "")
    seconds = events["downloaded"] - events["ready"]
    result = {"wall": measured.wall, "cpu": measured.cpu, "rss_mb": measured.maxrss_mb, "seconds": seconds,
              "bytes": video.bytes, "mb_per_s": (video.bytes or 0) / seconds / 1e6, "url": url, "ok": True}
    if check:
        result["ok"] = (path.stat().st_size == video_bytes and bool(mp4_boxes(path))
                        and video.sha256 == expected_sha256(video.video_id or "", video_bytes))
    shutil.rmtree(out, ignore_errors=True)
    return result


def curl_download(url: str, dest: Path, verify: bool) -> dict[str, Any]:
    """curl -o to ``dest``; with ``verify``, also sha256sum and sync it (what the tool does besides)."""
    fetch = f"curl -sS --fail -o {dest} -w '%{{time_total}}' '{url}'"
    argv = ["sh", "-c", f"{fetch} && sha256sum {dest} >/dev/null && sync {dest}"] if verify else [
        "curl", "-sS", "--fail", "-o", str(dest), "-w", "%{time_total}", url]
    measured = run_measured(argv)
    if measured.returncode != 0:
        raise RuntimeError(f"curl failed: {measured.stderr[-500:]}")
    size = dest.stat().st_size
    seconds = measured.wall if verify else float(measured.stdout.strip().split()[0])
    dest.unlink()
    return {"seconds": seconds, "bytes": size, "mb_per_s": size / seconds / 1e6, "rss_mb": measured.maxrss_mb}


def warm_up(path: Path, size: int) -> None:
    """Write and delete a file of the measured size first: on a VM, the first touch of guest memory (here:
    page cache for a new file) is much slower than reusing it, and it must not fall on the first contender."""
    block = bytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(0, size, len(block)):
            f.write(block)
    path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=int, default=GIB, help="size of the video (default 1 GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        print("curl is not installed (apt-get install curl)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-downloads-"))
    tool: list[dict[str, Any]] = []
    curl: list[dict[str, Any]] = []
    curl_verified: list[dict[str, Any]] = []
    try:
        with SandboxProc(sandbox_config(generation=(0.1, 0.1), video_bytes=200_000)) as small:
            baseline = tool_download(small, tmp, "small", 200_000, check=True)
        warm_up(tmp / "warm-up", args.bytes)
        with SandboxProc(sandbox_config(generation=(0.1, 0.1), video_bytes=args.bytes)) as sb:
            url = None
            for i in range(args.repeat):
                # Interleaved, and in alternating order, so that neither side always writes into pages the
                # other just freed, nor always meets a slow moment of the shared machine.
                if i % 2 == 1 and url is not None:
                    curl.append(curl_download(url, tmp / "curl.mp4", verify=False))
                tool.append(tool_download(sb, tmp, f"big{i}", args.bytes, check=(i == 0)))
                url = tool[-1]["url"]
                if i % 2 == 0:
                    curl.append(curl_download(url, tmp / "curl.mp4", verify=False))
                curl_verified.append(curl_download(url, tmp / "curl.mp4", verify=True))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["sync"], check=False)

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    tool_rate, curl_rate = med(tool, "mb_per_s"), med(curl, "mb_per_s")
    ratio = tool_rate / curl_rate
    rss_growth = max(r["rss_mb"] for r in tool) - baseline["rss_mb"]
    correct = all(r["ok"] for r in tool) and baseline["ok"]
    size = f"{args.bytes / GIB:.2f} GiB" if args.bytes >= GIB / 4 else f"{args.bytes / 1e6:.0f} MB"
    rows = [
        ["photogpt-batch run (transfer + sha256 + fsync + rename)", fmt(med(tool, "seconds")), fmt(tool_rate, 0),
         fmt(max(r["rss_mb"] for r in tool), 0), ", ".join(fmt(r["mb_per_s"], 0) for r in tool)],
        ["curl -o (transfer only)", fmt(med(curl, "seconds")), fmt(curl_rate, 0),
         fmt(max(r["rss_mb"] for r in curl), 0), ", ".join(fmt(r["mb_per_s"], 0) for r in curl)],
        ["curl -o && sha256sum && sync", fmt(med(curl_verified, "seconds")), fmt(med(curl_verified, "mb_per_s"), 0),
         fmt(max(r["rss_mb"] for r in curl_verified), 0), ", ".join(fmt(r["mb_per_s"], 0) for r in curl_verified)],
        ["photogpt-batch run, 200 kB file (RSS baseline)", "-", "-", fmt(baseline["rss_mb"], 0), "-"],
    ]
    judged = args.bytes >= GIB
    checks = [
        ["throughput ≥ 0.8 × curl", f"{ratio:.2f} ×",
         verdict(ratio >= TARGET_DOWNLOAD_VS_CURL) if judged else "(small)"],
        [f"peak RSS flat (≤ {FLAT_RSS_MB:.0f} MB over the 200 kB run)", f"+{rss_growth:.1f} MB",
         verdict(rss_growth <= FLAT_RSS_MB)],
        ["file verified (size, sha256 of the served bytes, MP4 boxes)", "yes" if correct else "NO", verdict(correct)],
    ]
    body = "\n".join([
        md_table(["one " + size + " video", "median s", "median MB/s", "peak RSS MB", "each round MB/s"], rows), "",
        md_table(["target", "measured", "verdict"], checks),
    ])
    passed = correct and rss_growth <= FLAT_RSS_MB and (ratio >= TARGET_DOWNLOAD_VS_CURL or not judged)
    emit(f"Downloads: one {size} video, photogpt-batch vs curl on loopback", body,
         {"bytes": args.bytes, "tool": tool, "curl": curl, "curlVerified": curl_verified, "baseline": baseline,
          "ratio": ratio, "rssGrowthMb": rss_growth, "verified": correct, "targetsMet": passed}, args.json)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
