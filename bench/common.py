"""What the benchmark scripts share: the machine, a sandbox process, measured subprocesses, campaigns, checks.

Every measurement runs the thing measured in a process of its own and reads that process's CPU time and peak
RSS from ``os.wait4``, so neither the sandbox nor the benchmark driver is counted. The sandbox runs in another
process too (`SandboxProc`, see ``sandbox_proc.py``).
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from photogpt_batch.sandbox.config import API_ROUTES as SANDBOX_API_ROUTES

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
API_KEY = "bench-key"
#: Routes of the API origin that count as "API requests" (``GET /ping`` and the admin routes do not).
API_ROUTES = tuple(route for route in SANDBOX_API_ROUTES if route != "GET /ping")
#: The issue's targets.
TARGET_RATIO = 1.2
TARGET_REQUESTS_PER_VIDEO = 4.5
TARGET_CPU_MS_PER_JOB = 3.0
TARGET_RSS_MB = 150.0
TARGET_DOWNLOAD_VS_CURL = 0.8


# ---- the machine -----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import aiohttp

        aiohttp_version = aiohttp.__version__
    except ImportError:  # pragma: no cover - the venv has it
        aiohttp_version = "-"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "aiohttp": aiohttp_version,
        "loadavg": [round(x, 2) for x in load],
        "commit": _commit(),
    }


def _commit() -> str:
    head = REPO / ".git" / "HEAD"
    with contextlib.suppress(OSError):
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (REPO / ".git" / ref[5:]).read_text().strip()
        return ref[:12]
    return "-"


def machine_line(m: dict[str, Any]) -> str:
    """The machine as one markdown line."""
    return (f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, aiohttp {m['aiohttp']}, "
            f"Linux {m['kernel']}, load average at start {m['loadavg'][0]}, commit {m['commit']} (+ working tree)")


def command_line() -> str:
    """The command that produced the report."""
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(REPO)
    return "python " + " ".join(shlex.quote(a) for a in [str(script), *sys.argv[1:]])


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A markdown table; ``align`` is one of 'l'/'r' per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(title: str, body: str, data: dict[str, Any], as_json: bool) -> None:
    """Print the report: markdown (title, command, machine, tables) or JSON."""
    if as_json:
        print(json.dumps({"title": title, "command": command_line(), "machine": machine(), **data}, indent=2,
                         default=_json_default))
        return
    print(f"### {title}\n\n`{command_line()}`\n\n{machine_line(machine())}\n\n{body}")


def _json_default(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


# ---- measured subprocesses -------------------------------------------------------------------------------
@dataclass
class Measured:
    """One finished child process: wall time, exit code, its own CPU time and peak RSS."""

    argv: list[str]
    wall: float
    returncode: int
    user: float
    sys: float
    maxrss_mb: float
    stdout: str = ""
    stderr: str = ""
    killed: bool = False

    @property
    def cpu(self) -> float:
        """user + system CPU seconds."""
        return self.user + self.sys

    def json(self) -> Any:
        """stdout parsed as JSON (None if it is not)."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            return None


def compile_bytecode(*packages: Path) -> None:
    """Write the ``.pyc`` files of ``packages`` (folders), as ``pip install`` does for an installed package.

    An editable install never gets them when ``PYTHONDONTWRITEBYTECODE`` is set (as on our benchmark VM), and
    then every run of the tool recompiles its ~8,000 lines first: about 50 ms of CPU that a user's installed
    copy does not spend. Measuring the installed tool means compiling first.
    """
    for package in packages:
        compileall.compile_dir(package, quiet=1)


def _installed_packages() -> list[Path]:
    """The folders of ``photogpt_batch`` and the built-in plugins, as the active environment imports them."""
    folders = []
    for name in ("photogpt_batch", "photogpt_batch_plugins"):
        spec = importlib.util.find_spec(name)
        folders += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    return folders


def cli_argv() -> list[str]:
    """How to start the tool: the installed script beside this interpreter, else ``python -m``. Its bytecode
    is compiled first (`compile_bytecode`)."""
    compile_bytecode(*_installed_packages())
    script = shutil.which("photogpt-batch", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "photogpt_batch"]


def run_measured(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 3600.0, kill_after: float | None = None) -> Measured:
    """Run ``argv`` to its end (or SIGKILL it after ``kill_after`` seconds); measure it alone with wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        killed = False
        deadline = start + (kill_after if kill_after is not None else timeout)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() >= deadline:
                proc.send_signal(signal.SIGKILL)
                killed = True
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(list(argv), wall, proc.returncode, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024,
                        out.read().decode(errors="replace"), err.read().decode(errors="replace"), killed)


def tool_env(api_url: str) -> dict[str, str]:
    """The environment that points the tool at a sandbox."""
    return {**os.environ, "PHOTOGPT_BASE_URL": api_url, "PHOTOGPT_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"}


# ---- the sandbox process ---------------------------------------------------------------------------------
class SandboxProc:
    """``sandbox_proc.py`` in a child process; ``with SandboxProc(config) as sb: sb.api, sb.counters()...``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = ""
        self.files = ""
        self.usage: Any = None
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - the sandbox writes to it until stop() closes it

    def __enter__(self) -> SandboxProc:
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "sandbox_proc.py"), json.dumps(self.config)],
                                     stdout=subprocess.PIPE, stderr=self._err, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self._err.seek(0)
            raise RuntimeError("the sandbox did not start: " + self._err.read().decode(errors="replace")[-2000:])
        info = json.loads(line)
        self.api, self.files = info["api"], info["files"]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM, then reap it (its CPU time lands in ``usage``)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        # wait4 rather than Popen.wait: the sandbox's own CPU time comes with it.
        _, status, self.usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        self._err.close()

    @property
    def admin(self) -> str:
        """The admin prefix on the API port."""
        return self.api.removesuffix("/api") + "/_sandbox"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.admin + path, timeout=60) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, Any]:
        """``GET /_sandbox/counters``."""
        return self._get("/counters")

    def reset_counters(self) -> None:
        """``POST /_sandbox/counters/reset``."""
        request = urllib.request.Request(self.admin + "/counters/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=60):
            pass

    def jobs(self) -> list[dict[str, Any]]:
        """Every job with its drawn timings, outcome, videos and canonical request body."""
        return self._get("/bench/jobs")["jobs"]


def sandbox_config(*, seed: int = 0, generation: tuple[float, float] = (0.5, 2.0), prepare: float = 0.3,
                   video_bytes: int = 200_000, faults: dict[str, Any] | None = None,
                   queue: float = 0.05) -> dict[str, Any]:
    """A JSON-ready sandbox configuration (the issue's timings by default)."""
    # Plain videos: drawing each request into its clip would put the sandbox's encoding on the CPU the tool is
    # measured on, and `expected_sha256` regenerates the plain clip's bytes from the video id alone.
    return {"seed": seed, "generation_seconds": list(generation), "prepare_seconds": prepare, "queue_seconds": queue,
            "video_bytes": video_bytes, "render_videos": False, "faults": faults or {}}


def api_requests(counters: dict[str, Any]) -> dict[str, int]:
    """API requests per route (GET /ping and admin routes excluded), retries and refused requests included."""
    requests = counters.get("requests", {})
    return {route: requests[route] for route in API_ROUTES if requests.get(route)}


# ---- campaigns -------------------------------------------------------------------------------------------
MODEL = "veo-3.1-fast"


def job_ids(n: int) -> list[str]:
    """The ids of an n-job benchmark campaign."""
    width = max(5, len(str(n)))
    return [f"j{i:0{width}d}" for i in range(1, n + 1)]


def prompt_for(campaign: str, job_id: str) -> str:
    """Each job's prompt: distinct, so every job has its own request body (and payload count)."""
    return f"bench clip {campaign} {job_id}"


def write_campaign(path: Path, n: int, campaign: str, output: Path, take: int = 0, chain: int = 1
                   ) -> list[tuple[str, dict[str, Any]]]:
    """Write an n-job, one-video-each campaign; return (job id, request body) per job. ``take`` > 0: every prompt
    edited (``... take 2``), so each job's content changes. ``chain`` > 1: the jobs form chains of that many,
    each job after the first of its chain needing the one before it (``needs:``)."""
    jobs = [(job_id, {"modelID": MODEL, "prompt": prompt_for(campaign, job_id) + (f" take {take}" if take else "")})
            for job_id in job_ids(n)]
    lines = ["version: 1", f"campaign: {campaign}", f"output: {json.dumps(str(output))}",
             f"defaults:\n  model: {MODEL}", "jobs:"]
    for i, (job_id, body) in enumerate(jobs):
        lines.append(f"  - id: {job_id}\n    prompt: {json.dumps(body['prompt'])}")
        if i % chain:
            lines.append(f"    needs: {jobs[i - 1][0]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return jobs


# ---- the ideal run time ----------------------------------------------------------------------------------
@dataclass
class Ideal:
    """Σ generation / concurrency + the longest job (its queue + generation + download preparation)."""

    jobs: int
    sum_generation: float
    longest_job: float
    seconds: float


def ideal(jobs: list[dict[str, Any]], concurrency: int, prepare: float) -> Ideal:
    """The ideal from the sandbox's actual drawn generation times (see `Ideal`)."""
    generation = [j["finishedAt"] - j["runningAt"] for j in jobs]
    longest = max((j["finishedAt"] - j["createdAt"] for j in jobs), default=0.0) + prepare
    total = sum(generation)
    return Ideal(len(jobs), round(total, 3), round(longest, 3), round(total / concurrency + longest, 3))


# ---- checking outputs ------------------------------------------------------------------------------------
def mp4_boxes(path: Path) -> list[str]:
    """The top-level box types of an MP4 file; ValueError if the boxes do not tile the file exactly."""
    size = path.stat().st_size
    types = []
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            header = f.read(8)
            if len(header) < 8:
                raise ValueError(f"truncated box header at {pos}")
            box_size, kind = struct.unpack(">I4s", header)
            if box_size == 1:
                extended = f.read(8)
                if len(extended) < 8:
                    raise ValueError(f"truncated 64-bit box size at {pos}")
                box_size = struct.unpack(">Q", extended)[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8 or pos + box_size > size:
                raise ValueError(f"box {kind!r} at {pos} of size {box_size} overruns the file ({size} bytes)")
            types.append(kind.decode("latin-1"))
            pos += box_size
    if not types or types[0] != "ftyp" or "moov" not in types or "mdat" not in types:
        raise ValueError(f"not a playable MP4 layout: {types}")
    return types


def chain_order_violations(output: Path, jobs: Sequence[str], chain: int, ledger_url: str | None = None,
                           campaign: str | None = None) -> list[str]:
    """The jobs of a ``chain`` campaign (`write_campaign`) that were sent before the job they need had its videos
    downloaded (there should be none): read from the ledger's times."""
    from photogpt_batch.ledger import Ledger

    with Ledger.open_for_reading(output, url=ledger_url, campaign=campaign) as ledger:
        records = {r.job_id: r for r in ledger.jobs()}
    wrong = []
    for i, job_id in enumerate(jobs):
        record, need = records.get(job_id), records.get(jobs[i - 1]) if i % chain else None
        if record is None or need is None or record.submitted_at is None:
            continue
        downloaded = [v.updated_at for v in need.videos if str(v.state) == "downloaded"]
        if not downloaded or record.submitted_at < max(downloaded):
            wrong.append(f"{job_id} was sent before {jobs[i - 1]}, which it needs, was downloaded")
    return wrong


def sha256_file(path: Path) -> str:
    """sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(video_id: str, video_bytes: int) -> str:
    """The sha256 of the bytes the sandbox serves for ``video_id`` (regenerated from its media module)."""
    from photogpt_batch.sandbox.media import VideoFile

    digest = hashlib.sha256()
    for chunk in VideoFile(video_id, video_bytes).iter_range():
        digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Verification:
    """Every expected video checked against the ledger, the manifest, the sandbox's bytes and MP4 structure."""

    jobs: int = 0
    videos_expected: int = 0
    videos_verified: int = 0
    lost: list[str] = field(default_factory=list)  # expected videos not on disk (with the reason)
    corrupt: list[str] = field(default_factory=list)  # on disk but wrong bytes, wrong hash records, or not MP4
    manifest_problems: list[str] = field(default_factory=list)
    leftover_parts: int = 0
    set_aside: int = 0

    @property
    def ok(self) -> bool:
        """No lost or corrupt video and a manifest that agrees."""
        return not self.lost and not self.corrupt and not self.manifest_problems


def verify_output(output: Path, ids: Sequence[str], sandbox_jobs: list[dict[str, Any]], video_bytes: int,
                  videos_per_job: int = 1, ledger_url: str | None = None, campaign: str | None = None
                  ) -> Verification:
    """Check a campaign's output folder (its ledger: the folder's, or the shared one at ``ledger_url``): see
    `Verification`."""
    from photogpt_batch.ledger import Ledger

    result = Verification(jobs=len(ids), videos_expected=len(ids) * videos_per_job)
    remote = {j["jobId"]: j for j in sandbox_jobs}
    with Ledger.open_for_reading(output, url=ledger_url, campaign=campaign) as ledger:
        records = {r.job_id: r for r in ledger.jobs()}
    manifest: dict[str, dict[str, Any]] = {}
    manifest_path = output / "manifest.jsonl"
    if manifest_path.exists():
        for line in manifest_path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("path") in manifest:
                result.manifest_problems.append(f"{entry.get('path')}: listed twice")
            manifest[entry.get("path")] = entry
    for job_id in ids:
        record = records.get(job_id)
        if record is None or str(record.state) != "succeeded":
            state = "not in the ledger" if record is None else str(record.state)
            result.lost.extend(f"{job_id}/{n}: job {state}" for n in range(1, videos_per_job + 1))
            continue
        server = remote.get(record.remote_id or "")
        for video in record.videos:
            name = f"{job_id}/{video.n}"
            if str(video.state) != "downloaded" or not video.path:
                result.lost.append(f"{name}: video {video.state}")
                continue
            path = output / video.path
            if not path.exists():
                result.lost.append(f"{name}: the ledger says downloaded but {video.path} is missing")
                continue
            actual = sha256_file(path)
            problems = []
            if actual != video.sha256 or path.stat().st_size != video.bytes:
                problems.append("file differs from the ledger's sha256/size")
            if server is None or video.video_id not in server["videoIds"]:
                problems.append(f"video {video.video_id} is not a video of server job {record.remote_id}")
            elif actual != expected_sha256(video.video_id or "", video_bytes):
                problems.append("bytes differ from what the sandbox served")
            try:
                mp4_boxes(path)
            except ValueError as exc:
                problems.append(f"not a valid MP4: {exc}")
            if problems:
                result.corrupt.append(f"{name}: " + "; ".join(problems))
            else:
                result.videos_verified += 1
            entry = manifest.get(video.path)
            if entry is None:
                result.manifest_problems.append(f"{video.path}: not in the manifest")
            elif (entry.get("sha256"), entry.get("videoId"), entry.get("jobId"), entry.get("bytes")) != (
                video.sha256, video.video_id, record.remote_id, video.bytes
            ):
                result.manifest_problems.append(f"{video.path}: manifest entry disagrees with the ledger")
        if len(record.videos) != videos_per_job:
            result.lost.append(f"{job_id}: {len(record.videos)} videos recorded, {videos_per_job} expected")
    result.leftover_parts = sum(1 for _ in output.rglob("*.part"))
    result.set_aside = sum(1 for _ in output.rglob("*.untrusted-*"))
    return result


def payloads_created(sandbox_jobs: list[dict[str, Any]]) -> Counter[str]:
    """Jobs the sandbox created per request body."""
    return Counter(j["body"] for j in sandbox_jobs)


def body_key(body: dict[str, Any]) -> str:
    """The sandbox's canonical form of a request body."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ledger_states(output: Path, ledger_url: str | None = None, campaign: str | None = None) -> dict[str, str]:
    """Each current job's ledger state (the folder's ledger, or ``campaign``'s on the shared one at ``ledger_url``)."""
    from photogpt_batch.ledger import Ledger

    if ledger_url is None and not (output / ".photogpt-batch" / "ledger.sqlite3").exists():
        return {}
    with Ledger.open_for_reading(output, url=ledger_url, campaign=campaign) as ledger:
        return {r.job_id: str(r.state) for r in ledger.jobs()}


def ledger_progress(output: Path, ledger_url: str | None = None, campaign: str | None = None) -> dict[str, int]:
    """Counts of current job states, and of downloaded videos (which ledger: as `ledger_states`)."""
    from photogpt_batch.ledger import Ledger

    if ledger_url is None and not (output / ".photogpt-batch" / "ledger.sqlite3").exists():
        return {}
    with Ledger.open_for_reading(output, url=ledger_url, campaign=campaign) as ledger:
        counts = ledger.counts()
    return {**counts["jobs"], "videos_downloaded": counts["videos"].get("downloaded", 0)}


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table."""
    return f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    """pass / MISS."""
    return "pass" if ok else "**MISS**"
