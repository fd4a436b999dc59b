"""The file system's clock, for the records that trust a file by its stat fingerprint instead of reading it (the
record of checked files, `io.checked`; the cache of file hashes, `assets.hashcache`; the spec's memo,
`spec.memo`).

Such a record is safe because of the ctime: the kernel sets it to the current time on every change of a file's
content or metadata, and no call sets it back. But it is only as fine as the file system's clock, so a file that
changed in the same tick as it was read keeps its ctime. A record therefore keeps a file only if its ctime is older
than the clock read *before* the file's stat was taken (`settled`): any later change then gives it a later ctime.
"""

from __future__ import annotations

import os

#: A file on another file system than the clock's may have coarser times (whole seconds, two on FAT): only a ctime
#: this much older than the clock proves that a later change would show.
OTHER_DEVICE_MARGIN_NS = 2_000_000_000

#: (device, ns): the file system a clock was read on, and its time.
Clock = tuple[int, int]
#: What these records keep of a file's ``stat``: device, inode, size, mtime and ctime (ns), the five numbers that
#: change when its content or identity does (the ctime catches a change whose mtime was put back).
Fingerprint = tuple[int, int, int, int, int]


def fingerprint(found: os.stat_result) -> Fingerprint:
    """A file's `Fingerprint`, from its ``stat`` (or ``lstat``)."""
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def read_clock(path: str | os.PathLike[str]) -> Clock:
    """The file system's clock now: the ctime that touching ``path`` (a file or folder the caller owns) gives it.
    The file system's, not this process's: that is the clock every file's ctime comes from. Raises `OSError`."""
    os.utime(path)
    found = os.stat(path)
    return found.st_dev, found.st_ctime_ns


def settled(device: int, ctime_ns: int, clock: Clock, other_devices: bool = True) -> bool:
    """Whether a file on ``device`` whose ctime is ``ctime_ns`` last changed before ``clock`` was read, by more than
    a tick of its file system's clock; on another device than the clock's, by `OTHER_DEVICE_MARGIN_NS` (never, with
    ``other_devices`` off)."""
    clock_device, now = clock
    if device == clock_device:
        return ctime_ns < now
    return other_devices and ctime_ns < now - OTHER_DEVICE_MARGIN_NS
