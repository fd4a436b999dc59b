"""`readiness`: ready, waiting (and why) and blocked (naming the root failure), from needs, records and picks."""

from __future__ import annotations

from photogpt_batch.campaign import Need
from photogpt_batch.engine.schedule import Scheduler
from photogpt_batch.ledger import JobRecord, JobState, VideoState
from photogpt_batch.ledger.records import VideoRecord
from photogpt_batch.readiness import BLOCKED, READY, WAITING, Readiness, job_readiness, readiness


def record(job_id: str, state: JobState, videos: tuple[VideoState, ...] = (), error: str | None = None) -> JobRecord:
    row = abs(hash(job_id)) % 10_000
    return JobRecord(row, job_id, "veo-3.1-fast", "h", state, True, None, error, None, None, 0, None, 0.0, 0.0,
                     tuple(VideoRecord(row, n, None, s, None, None, None, None, None, 0.0)
                           for n, s in enumerate(videos, 1)))


DONE = (VideoState.DOWNLOADED, VideoState.DOWNLOADED)


def test_met_needs_make_a_job_ready_and_picks_gate_it() -> None:
    needs = {"final-1": (Need("draft-1", picked=True),), "final-2": (Need("draft-2", picked=True),),
             "b": (Need("a"),)}
    records = {"draft-1": record("draft-1", JobState.SUCCEEDED, DONE),
               "draft-2": record("draft-2", JobState.SUCCEEDED, DONE),
               "a": record("a", JobState.SUCCEEDED, DONE)}
    found = readiness(needs, records, picks={"draft-2"})
    assert found == {"final-1": Readiness(WAITING, "needs draft-1 (not picked)"),
                     "final-2": Readiness(READY), "b": Readiness(READY)}


def test_waiting_says_what_the_needed_job_is_doing() -> None:
    needs = {"b": (Need("a"),), "c": (Need("b"),), "d": (Need("x"), Need("y"), Need("z"))}
    records = {"a": record("a", JobState.SUBMITTED), "b": record("b", JobState.PLANNED),
               "x": record("x", JobState.IN_DOUBT),
               "y": record("y", JobState.SUCCEEDED, (VideoState.DOWNLOADED, VideoState.PENDING)),
               "z": record("z", JobState.SUCCEEDED, (VideoState.FAILED,))}
    found = readiness(needs, records, picks=())
    assert found["b"] == Readiness(WAITING, "needs a (generating)")
    assert found["c"] == Readiness(WAITING, "needs b (waiting)")
    assert found["d"] == Readiness(WAITING, "needs x (in doubt); needs y (downloading); needs z (a download failed)")
    assert job_readiness("b", needs, {}, ()) == Readiness(WAITING, "needs a (not sent yet)")


def test_a_failed_need_blocks_and_the_block_passes_down_naming_the_root() -> None:
    needs = {"b": (Need("a"),), "c": (Need("b"),), "d": (Need("c"), Need("ok"))}
    records = {"a": record("a", JobState.FAILED, error="moderation: refused"),
               "b": record("b", JobState.PLANNED), "ok": record("ok", JobState.SUCCEEDED, DONE)}
    found = readiness(needs, records, picks=())
    assert found["b"] == Readiness(BLOCKED, "needs a, which failed: moderation: refused", "a")
    assert found["c"] == Readiness(BLOCKED, "needs b, blocked by a, which failed: moderation: refused", "a")
    assert found["d"] == Readiness(BLOCKED, "needs c, blocked by a, which failed: moderation: refused", "a")


def test_a_long_chain_does_not_overflow_the_stack() -> None:
    n = 20_000
    needs = {f"s{i}": (Need(f"s{i - 1}"),) for i in range(1, n)}
    records = {"s0": record("s0", JobState.FAILED, error="boom")}
    assert job_readiness(f"s{n - 1}", needs, records, ()).root == "s0"
    # And the engine admitting every job of the chain, one by one, does not walk the chain again for each.
    scheduler = Scheduler(needs, records.values(), ())
    for i in range(1, n):
        scheduler.admit(f"s{i}")
    assert len(scheduler.blocked) == n - 1 and not scheduler.ready
