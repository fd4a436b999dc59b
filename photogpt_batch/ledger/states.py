"""The ledger's state machines: job and video states, the legal transitions, and a spec job's disposition."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job version is: planned → submitting → submitted → succeeded / failed, or in_doubt."""

    PLANNED = "planned"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


class VideoState(StrEnum):
    """Where one video of a succeeded job is: pending → preparing → ready → downloaded, or failed."""

    PENDING = "pending"
    PREPARING = "preparing"
    READY = "ready"
    DOWNLOADED = "downloaded"
    FAILED = "failed"


#: The legal job transitions, and why each exists.
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PLANNED: frozenset({JobState.SUBMITTING}),
    JobState.SUBMITTING: frozenset(
        {
            JobState.SUBMITTED,  # the jobId arrived
            JobState.IN_DOUBT,  # sent, outcome unknown
            JobState.FAILED,  # refused for certain (400, 404...)
            JobState.PLANNED,  # provably never sent (connection refused, interrupted before sending)
        }
    ),
    JobState.SUBMITTED: frozenset({JobState.SUCCEEDED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    # --retry-failed
    JobState.FAILED: frozenset({JobState.PLANNED}),
    # found on the server / the user resubmits (or reconciliation shows it never arrived) / the user gives up
    JobState.IN_DOUBT: frozenset({JobState.SUBMITTED, JobState.PLANNED, JobState.FAILED}),
}

#: The legal video transitions.
VIDEO_TRANSITIONS: dict[VideoState, frozenset[VideoState]] = {
    VideoState.PENDING: frozenset({VideoState.PREPARING, VideoState.FAILED}),
    VideoState.PREPARING: frozenset({VideoState.READY, VideoState.FAILED}),
    # PREPARING again: the signed URL expired and a fresh one is needed.
    VideoState.READY: frozenset({VideoState.DOWNLOADED, VideoState.PREPARING, VideoState.FAILED}),
    # PENDING again: the file went missing from the folder and must be fetched again.
    VideoState.DOWNLOADED: frozenset({VideoState.PENDING}),
    # --retry-failed
    VideoState.FAILED: frozenset({VideoState.PENDING}),
}


class Disposition(StrEnum):
    """A spec job compared with the ledger (what ``plan`` shows and what ``run`` acts on)."""

    NEW = "new"  # nothing sent yet for this content
    CHANGED = "changed"  # the id is known, with other content
    IN_FLIGHT = "in_flight"  # submitting, submitted, or succeeded with files still to download
    DONE = "done"  # succeeded, every video downloaded
    FAILED = "failed"  # the job or one of its videos failed
    IN_DOUBT = "in_doubt"  # a submission whose outcome is unknown
    ORPHANED = "orphaned"  # in the ledger, no longer in the spec


# Plain dict lookups: calling the enum class costs several times more, and reads build 100,000s of records.
JOB_STATES = {state.value: state for state in JobState}
VIDEO_STATES = {state.value: state for state in VideoState}
