"""Numbered schema migrations of both stores. Append only: a ledger written by any released version must open
with every later one, and the tests migrate from an empty database and from every earlier version.

``MIGRATIONS[k]`` takes an SQLite ledger from version ``k`` to ``k + 1``; ``PG_MIGRATIONS[k]`` does the same for
the shared PostgreSQL ledger, whose tables live in their own schema (`PG_SCHEMA`) and are keyed by campaign.
"""

from __future__ import annotations

#: Written into the SQLite header (``PRAGMA application_id``): tells our ledgers from other databases.
APPLICATION_ID = 0x50474254  # "PGBT"

#: Numbered schema steps: ``MIGRATIONS[k]`` takes a ledger from version ``k`` to ``k + 1``. Append only:
#: a ledger written by any released version must open with every later one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: jobs (one row per version of a spec job) and their videos.
    (
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            remote_id TEXT,
            error TEXT,
            err TEXT,
            credits REAL,
            current INTEGER NOT NULL DEFAULT 1 CHECK (current IN (0, 1)),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            UNIQUE (job_id, content_hash)
        )""",
        "CREATE UNIQUE INDEX jobs_current_job_id ON jobs (job_id) WHERE current = 1",
        """CREATE TABLE videos (
            job INTEGER NOT NULL REFERENCES jobs (id),
            n INTEGER NOT NULL CHECK (n >= 1),
            video_id TEXT,
            state TEXT NOT NULL,
            url TEXT,
            path TEXT,
            bytes INTEGER,
            sha256 TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (job, n)
        )""",
    ),
    # 2: submission attempts and time, an audit trail of transitions, and lookups by server job id.
    (
        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN submitted_at REAL",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            job INTEGER NOT NULL REFERENCES jobs (id),
            n INTEGER,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX events_job ON events (job, n)",
        "CREATE INDEX jobs_remote_id ON jobs (remote_id) WHERE remote_id IS NOT NULL",
    ),
    # 3: facts about the folder as a whole (which campaign it belongs to, which API its jobs live on).
    ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",),
    # 4: each event's recording run's measured server clock offset (server − local seconds; NULL: unknown), so
    # that an event's time can be put on the server's clock whichever machine recorded it.
    ("ALTER TABLE events ADD COLUMN clock_offset REAL",),
    # 5: the ledger's revision (`revision`): ``n`` moves on with every committed write of its content, so that the
    # views written from it (the review page, the manifest) can tell whether they are still up to date. ``epoch``
    # is drawn once, here: a ledger made again from scratch never repeats an earlier one's revisions.
    (
        "CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT NOT NULL, n INTEGER NOT NULL)",
        "INSERT INTO revision (id, epoch, n) VALUES (1, lower(hex(randomblob(8))), 0)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

#: The PostgreSQL schema (namespace) the shared ledger's tables live in, beside whatever else the database holds.
PG_SCHEMA = "photogpt_batch"

#: The shared ledger. Jobs carry their campaign's slug; videos and events hang off a job's (global) id, so the
#: transitions' SQL is the SQLite ledger's, word for word.
PG_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: jobs, videos, events and meta of many campaigns, as SQLite's schema 3 has them for one.
    (
        """CREATE TABLE jobs (
            id BIGSERIAL PRIMARY KEY,
            campaign TEXT NOT NULL,
            job_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            remote_id TEXT,
            error TEXT,
            err TEXT,
            credits DOUBLE PRECISION,
            current INTEGER NOT NULL DEFAULT 1 CHECK (current IN (0, 1)),
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            submitted_at DOUBLE PRECISION,
            UNIQUE (campaign, job_id, content_hash)
        )""",
        "CREATE UNIQUE INDEX jobs_current_job_id ON jobs (campaign, job_id) WHERE current = 1",
        "CREATE INDEX jobs_remote_id ON jobs (campaign, remote_id) WHERE remote_id IS NOT NULL",
        """CREATE TABLE videos (
            job BIGINT NOT NULL REFERENCES jobs (id),
            n INTEGER NOT NULL CHECK (n >= 1),
            video_id TEXT,
            state TEXT NOT NULL,
            url TEXT,
            path TEXT,
            bytes BIGINT,
            sha256 TEXT,
            error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (job, n)
        )""",
        """CREATE TABLE events (
            id BIGSERIAL PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            job BIGINT NOT NULL REFERENCES jobs (id),
            n INTEGER,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX events_job ON events (job, n)",
        """CREATE TABLE meta (
            campaign TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (campaign, key)
        )""",
    ),
    # 2: the run lock of each campaign, a row (session advisory locks leak behind PgBouncer's transaction
    # pooling). ``generation`` grows with every holder; every write checks it (fencing).
    (
        """CREATE TABLE locks (
            campaign TEXT PRIMARY KEY,
            generation BIGINT NOT NULL DEFAULT 0,
            host TEXT,
            pid INTEGER,
            user_name TEXT,
            run_id TEXT,
            since TIMESTAMPTZ,
            heartbeat TIMESTAMPTZ
        )""",
    ),
    # 3: the holder's own lock timeout and heartbeat interval: a lock's staleness is judged by the settings of
    # the run that holds it, never by a newcomer's (a newcomer with a shorter timeout would cut a live lease).
    (
        "ALTER TABLE locks ADD COLUMN timeout_s DOUBLE PRECISION",
        "ALTER TABLE locks ADD COLUMN heartbeat_s DOUBLE PRECISION",
    ),
    # 4: as SQLite's 4: each event's recording run's server clock offset (NULL: unknown).
    ("ALTER TABLE events ADD COLUMN clock_offset DOUBLE PRECISION",),
    # 5: as SQLite's 5, per campaign: its row is made by the campaign's first write after this step (`revision`).
    ("CREATE TABLE revision (campaign TEXT PRIMARY KEY, epoch TEXT NOT NULL, n BIGINT NOT NULL)",),
)
PG_SCHEMA_VERSION = len(PG_MIGRATIONS)
