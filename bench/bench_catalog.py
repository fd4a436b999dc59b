"""Benchmark a catalog campaign: `validate` and `plan --json` over a rows file with one local photo per row (cold
and warm hash cache), the upload rate to a local S3-compatible server (moto), and rows against a matrix of the
same size.

Each command runs in a fresh subprocess with its own state folder (``XDG_STATE_HOME``, where the hash cache
lives): "cold" is an empty one, "warm" the one a first `validate` filled. The upload goes through the run's own
`Stager` on an `S3Store`, four files at a time as a run's default concurrency submits, to moto's server on
127.0.0.1 (in this process's threads: the figure is what the tool can push, on a loopback).

    python bench/bench_catalog.py                          # 2,000 rows and photos; 100,000 rows vs matrix
    python bench/bench_catalog.py --rows 20 --upload 20 --compare 200   # a quick run (the smoke test)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_specs import campaign_yaml, shape
from common import cli_argv, emit, md_table


def photo(i: int) -> bytes:
    """A small PNG (about 200 bytes), distinct for each ``i``."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 18), (i % 251, (i // 251) % 251, 90)).save(out, format="PNG")
    return out.getvalue()


def write_catalog(folder: Path, rows: int) -> Path:
    """products.csv with ``rows`` rows, photos/<sku>.png each, and the spec that starts each video from its photo."""
    (folder / "photos").mkdir(parents=True)
    lines = ["sku,name,image"]
    for i in range(rows):
        sku = f"P{i:06d}"
        (folder / "photos" / f"{sku}.png").write_bytes(photo(i))
        lines.append(f"{sku},product {i},photos/{sku}.png")
    (folder / "products.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = folder / "catalog.yaml"
    spec.write_text("""version: 1
campaign: bench-catalog
defaults: {model: veo-3.1-fast, options: {duration: 4, aspectRatio: "16:9"}}
jobs:
  - id: "{sku}"
    rows: products.csv
    prompt: "the {name} turning slowly on a marble counter"
    referenceImages: [{file: "{image}", role: first_frame}]
""", encoding="utf-8")
    return spec


def write_text_rows(folder: Path, rows: int) -> Path:
    """A text-to-video rows campaign of ``rows`` jobs with distinct bodies, like bench_specs' matrix."""
    models = ("veo-3.1", "veo-3.1-fast", "seedance-1.5-pro", "seedance-2.0")
    lines = ["n,model,seed,prompt"]
    lines += [f"{i},{models[i % 4]},{1000 + i // 4 % 50},\"cinematic close-up, take {i}\"" for i in range(rows)]
    (folder / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = folder / "rows.yaml"
    spec.write_text("""version: 1
campaign: bench-rows
jobs:
  - id: "{model}-s{seed}-{n}"
    rows: rows.csv
    prompt: "{prompt}"
    options: {seed: "{seed}"}
""", encoding="utf-8")
    return spec


def timed(argv: list[str], state: Path) -> dict[str, Any]:
    """Run ``argv`` with ``state`` as its state folder; wall seconds, peak RSS and exit code."""
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
    return {"seconds": round(time.perf_counter() - start, 2), "rssMb": round(usage.ru_maxrss / 1024), "exit": code}


def spec_layer(spec: Path, tmp: Path) -> dict[str, dict[str, Any]]:
    """validate and plan --json, cold then warm hash cache."""
    cli = cli_argv()
    cold_v, cold_p = tmp / "state-cold-v", tmp / "state-cold-p"
    return {"validate cold": timed([*cli, "validate", str(spec)], cold_v),
            "validate warm": timed([*cli, "validate", str(spec)], cold_v),
            "plan --json cold": timed([*cli, "plan", "--json", str(spec)], cold_p),
            "plan --json warm": timed([*cli, "plan", "--json", str(spec)], cold_p)}


def upload_rate(folder: Path, files: int, big: int) -> dict[str, Any]:
    """Stage ``files`` small photos, then ``big`` 5 MB files, on moto through the run's Stager."""
    import logging

    from moto.server import ThreadedMotoServer

    from photogpt_batch.assets.s3 import S3Store
    from photogpt_batch.spec.load import load_campaign

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench")
        small = load_campaign(write_catalog(folder / "small", files), hash_cache=folder / "hc")
        large_folder = folder / "large"
        write_catalog(large_folder, big)
        for path in (large_folder / "photos").iterdir():  # a PNG head, then 5 MB of padding
            path.write_bytes(path.read_bytes() + os.urandom(5_000_000))
        large = load_campaign(large_folder / "catalog.yaml", hash_cache=folder / "hc")
        return {"small": asyncio.run(_stage(S3Store("bench", "small"), small)),
                "large": asyncio.run(_stage(S3Store("bench", "large"), large))}
    finally:
        server.stop()


async def _stage(store: Any, campaign: Any) -> dict[str, Any]:
    from photogpt_batch.assets.staging import Stager

    stager = Stager(store, campaign.assets)
    limit = asyncio.Semaphore(4)  # run's default concurrency

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            await stager.sendable(body)

    start = time.perf_counter()
    await stager.check()
    await asyncio.gather(*(one(job.body) for job in campaign.jobs))
    seconds = time.perf_counter() - start
    total = sum(a.size for a in campaign.assets.values())
    again = time.perf_counter()
    await Stager(store, campaign.assets).check()  # a rerun: every file is there, nothing is sent
    return {"files": stager.uploaded, "mb": round(total / 1e6, 2), "seconds": round(seconds, 2),
            "filesPerSecond": round(stager.uploaded / seconds, 1), "mbPerSecond": round(total / 1e6 / seconds, 1),
            "recheckSeconds": round(time.perf_counter() - again, 2)}


def rows_vs_matrix(tmp: Path, jobs: int) -> dict[str, dict[str, Any]]:
    """validate and plan --json on ``jobs`` rows against a matrix of as many jobs (bench_specs' campaign)."""
    cli = cli_argv()
    (tmp / "rows").mkdir()
    rows = write_text_rows(tmp / "rows", jobs)
    prompts, seeds = shape(jobs)
    matrix = tmp / "matrix.yaml"
    matrix.write_text(campaign_yaml(prompts, seeds), encoding="utf-8")
    state = tmp / "state-compare"
    return {f"{kind} {command}": timed([*cli, *args, str(spec)], state)
            for kind, spec in (("rows", rows), ("matrix", matrix))
            for command, args in (("validate", ["validate"]), ("plan --json", ["plan", "--json"]))}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a command fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="catalog rows, one photo each (default 2,000)")
    parser.add_argument("--upload", type=int, default=2000, help="small photos to upload (default 2,000)")
    parser.add_argument("--big", type=int, default=20, help="5 MB files to upload (default 20)")
    parser.add_argument("--compare", type=int, default=100_000, help="jobs in rows vs matrix (default 100,000)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as name:
        tmp = Path(name)
        spec = write_catalog(tmp / "catalog", args.rows)
        layer = spec_layer(spec, tmp)
        compare = rows_vs_matrix(tmp, args.compare)
        # Last: it loads moto and boto3 here, which a forked child's peak RSS would count before its exec.
        upload = upload_rate(tmp / "upload", args.upload, args.big)
    data = {"rows": args.rows, "specLayer": layer, "upload": upload, "compareJobs": args.compare,
            "rowsVsMatrix": compare}
    body = "\n\n".join([
        f"Catalog of {args.rows:,} rows, one local photo each:\n\n" + md_table(
            ["command", "wall s", "peak RSS MB", "exit"],
            [(f"`{k}`", v["seconds"], v["rssMb"], v["exit"]) for k, v in layer.items()]),
        "Upload to moto's S3 server on 127.0.0.1 (the run's Stager, 4 at a time):\n\n" + md_table(
            ["files", "MB", "s", "files/s", "MB/s", "recheck s"],
            [(f"{u['files']:,} × {'5 MB' if k == 'large' else 'small PNG'}", u["mb"], u["seconds"],
              u["filesPerSecond"], u["mbPerSecond"], u["recheckSeconds"]) for k, u in upload.items()]),
        f"Rows against a matrix, {args.compare:,} jobs each:\n\n" + md_table(
            ["command", "wall s", "peak RSS MB", "exit"],
            [(f"`{k}`", v["seconds"], v["rssMb"], v["exit"]) for k, v in compare.items()])])
    emit("Catalog campaigns: local files and rows", body, data, args.json)
    results = [*layer.values(), *compare.values()]
    return 1 if any(r["exit"] != 0 for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
