"""The daemon's C heap stays near what it uses: glibc's malloc keeps memory that was freed
(by Python, libgit2, SQLite) in its arenas, so a process that runs for months shows, as
resident memory, the most it ever held in each arena at once, spread over one arena per
thread that ever allocated (up to 8 per core). The daemon caps the arenas before its threads
start and hands freed pages back to the kernel on a schedule. Both are glibc's own calls
(`mallopt(M_ARENA_MAX)`, `malloc_trim`), reached through ctypes; on another C library (musl,
macOS) they are absent and every function here does nothing and says so by its result."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import platform

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2  # the main arena and one for every other thread: they mostly wait on the GIL
TRIM_INTERVAL = 60.0  # seconds between two malloc_trim(0) of the daemon


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _glibc() -> ctypes.CDLL | None:
    """The C library of this process when it is glibc, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _glibc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas of this process (call before threads start: an arena that
    exists stays); True when the C library took the setting."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    return bool(_LIBC.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))


def trim() -> bool:
    """Give the free pages of every arena back to the kernel (`malloc_trim(0)`: the middle of
    each arena too, not only its top); True when glibc released some memory."""
    if _LIBC is None or not hasattr(_LIBC, "malloc_trim"):
        return False
    return bool(_LIBC.malloc_trim(ctypes.c_size_t(0)))


def release_memory() -> None:
    """What the daemon no longer holds, given back: garbage in reference cycles collected
    first (a pygit2 Repository sits in cycles and keeps the packs it read mapped until it is
    collected), then every arena trimmed."""
    gc.collect()
    trim()


def heap_sizes() -> dict[str, int]:
    """Bytes the C heap holds for objects in use (`malloc_in_use`: small blocks and mmapped
    large ones) and keeps free in its arenas (`malloc_free`), all arenas summed (glibc's
    mallinfo2); empty where that call does not exist."""
    if _LIBC is None or not hasattr(_LIBC, "mallinfo2"):
        return {}
    _LIBC.mallinfo2.restype = _MallInfo2
    info = _LIBC.mallinfo2()
    return {"malloc_in_use": int(info.uordblks + info.hblkhd),
            "malloc_free": int(info.fordblks), "malloc_arenas": _arena_count()}


def _arena_count() -> int:
    """How many arenas glibc's malloc has made in this process (its `malloc_info` report has
    one <heap nr=...> element per arena)."""
    assert _LIBC is not None
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    _LIBC.open_memstream.restype = ctypes.c_void_p
    stream = _LIBC.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        return 0
    try:
        _LIBC.malloc_info(ctypes.c_int(0), ctypes.c_void_p(stream))
    finally:
        _LIBC.fclose(ctypes.c_void_p(stream))
    report = ctypes.string_at(buffer, size.value)
    _LIBC.free(buffer)
    return report.count(b"<heap nr=")
