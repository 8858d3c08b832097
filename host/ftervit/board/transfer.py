"""Binary file transfer to the board over a BoardLink: CRC per chunk, SHA-256 per file,
resumable after a dropped link, skipped when the board already has the same bytes.

The board writes into `PATH.<sha256 prefix>.part` and renames it only after the whole
file hashes right (device/serve.py), so a drop never leaves a wrong file in place, and
the next `put_file` of the same bytes goes on from what the part file holds.
"""
import hashlib
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .link import BoardLink

DEFAULT_CHUNK = 32 * 1024
JSON_ROOM = 512   # payload bytes the chunk's JSON line takes, at most


@dataclass
class PutResult:
    path: str
    size: int
    sha256: str
    sent: int           # file bytes sent this time (0: the board had it)
    resumed_from: int   # bytes the board already held from an earlier, dropped transfer
    seconds: float

    @property
    def skipped(self) -> bool:
        return self.sent == 0 and self.resumed_from == 0

    @property
    def bytes_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def board_sha256(link: BoardLink, path: str) -> Optional[str]:
    """The board file's SHA-256 (hex), None if it has no such file."""
    answer = link.request("hash", path=path, timeout=max(link.timeout, 30.0))
    return answer["sha256"] if answer["exists"] else None


def chunk_size(link: BoardLink, wanted: int = DEFAULT_CHUNK) -> int:
    """The largest chunk up to `wanted` that fits the board's receive buffer."""
    limit = int(link.request("info")["max_payload"]) - JSON_ROOM
    if limit <= 0:
        raise ValueError(f"board receive buffer too small ({limit + JSON_ROOM} bytes)")
    return max(1, min(wanted, limit))


def put_file(link: BoardLink, data: bytes, path: str, chunk: int = DEFAULT_CHUNK,
             progress: Optional[Callable[[int, int], None]] = None,
             skip_same: bool = True) -> PutResult:
    """Write `data` to `path` on the board and verify it by SHA-256 there."""
    sha = hashlib.sha256(data).hexdigest()
    start = time.perf_counter()
    if skip_same and board_sha256(link, path) == sha:
        return PutResult(path, len(data), sha, 0, 0, time.perf_counter() - start)
    chunk = chunk_size(link, chunk)
    offset = resumed = link.request("put_begin", path=path, size=len(data), sha256=sha)["offset"]
    while offset < len(data):
        piece = data[offset:offset + chunk]
        offset = link.request("put_chunk", path=path, offset=offset, data=piece)["offset"]
        if progress:
            progress(offset, len(data))
    done = link.request("put_end", path=path, sha256=sha, timeout=max(link.timeout, 30.0))
    if done["sha256"] != sha or done["size"] != len(data):  # serve.py checks; this is the host's word
        raise ValueError(f"{path}: the board holds {done['size']} bytes with SHA-256 "
                         f"{done['sha256']}, expected {len(data)} bytes {sha}")
    return PutResult(path, len(data), sha, len(data) - resumed, resumed,
                     time.perf_counter() - start)
