"""Write the spec's sequences after a run: each one whose jobs are all done and whose file is not already built
from exactly its clips of now is joined again (`join`), written atomically and recorded.

The file is written to ``<name>.mp4.tmp`` (created afresh, never through a link), fsynced and renamed into
place; then ``<name>.json`` records what it was built from, the same way. A crash between the two leaves a
record that no longer matches, and the next run builds the sequence again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..io.durable import describe, fsync_dir, open_owned, owned_dirs
from ..layout import SEQUENCES_DIR, sequence_path, sequence_record_path, tmp_path
from .state import SequenceState, sequence_states


def build_sequences(output: Path, sequences: Mapping[str, tuple[str, ...]], entries: Iterable[Mapping[str, Any]],
                    note: Callable[[str], None]) -> list[str]:
    """Build each sequence that is ready and not up to date; returns the names built. What cannot be built (clips
    of different ratios, a clip PyAV cannot read, a full disk) is reported through ``note``, and the others are
    still built: a sequence is a view of paid videos, never a reason to fail the run."""
    from .join import JoinRefused  # PyAV: imported only when a sequence is built

    built = []
    for state in sequence_states(output, sequences, entries):
        if not state.ready or state.up_to_date:
            continue
        try:
            how = _write(output, state)
        except JoinRefused as exc:
            note(f"warning: sequence {state.name} was not written: {exc}")
        except OSError as exc:
            note(f"warning: sequence {state.name} was not written: {describe(exc)}")
        else:
            built.append(state.name)
            note(f"sequence {state.name}: {output / state.path} ({len(state.clips)} clips, {how})")
    return built


def _write(output: Path, state: SequenceState) -> str:
    """Join the state's clips into its file and record them; returns how they were joined."""
    from .join import join

    owned_dirs(output, output / SEQUENCES_DIR, create=True)
    dest = output / sequence_path(state.name)
    tmp = tmp_path(dest)
    tmp.unlink(missing_ok=True)  # a leftover, or a planted link: O_EXCL then makes a fresh file
    try:
        with open(open_owned(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL), "w+b") as f:
            how = join([(clip.job, output / clip.path) for clip in state.clips], f)
            f.flush()
            os.fsync(f.fileno())
        data = tmp.read_bytes()
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    record = {"sequence": state.name, "path": state.path, "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest(), "jobs": list(state.jobs),
              "clips": [clip.sha256 for clip in state.clips], "joined": how}
    _write_json(output / sequence_record_path(state.name), record)
    fsync_dir(output / SEQUENCES_DIR)
    return how


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` to ``path`` through its temporary file (fsync, rename), never through a link."""
    tmp = tmp_path(path)
    tmp.unlink(missing_ok=True)
    with open(open_owned(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
