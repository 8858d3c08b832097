"""The host<->board link protocol (both ends: this file and device/serve.py).

A request is one frame: a 20-byte header, then the payload.

    magic    4 bytes  b"FTVL"
    version  u8       PROTOCOL_VERSION
    flags    u8       0 (reserved)
    id       u16      request id, echoed in the answer
    length   u32      payload bytes
    crc      u32      CRC-32 of the payload
    head_crc u32      CRC-32 of the 16 bytes before it

The head CRC lets the board refuse a corrupted length at once instead of
waiting for bytes that will never come.  The payload is one JSON object
(the arguments, with "cmd"), a newline, then raw binary data (file bytes, a
camera frame).  Every answer is one text line, a JSON object whose first key
is "ftv" so it can be told from anything else the board prints:

    {"ftv": 1, "id": 7, "ok": true, "ms": 12.5, ...}
    {"ftv": 1, "id": 7, "ok": false, "error": "payload CRC mismatch ..."}

Bytes before a magic are skipped by the board (and counted in its answer).
All integers are little-endian.
"""
import json
import struct
import zlib

MAGIC = b"FTVL"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<4sBBHIII")
HEAD_CRC_SPAN = HEADER.size - 4
ANSWER_PREFIX = b'{"ftv":'
MAX_PAYLOAD = 1 << 20   # the board refuses longer frames (its receive buffer is one bytearray)


class ProtocolError(ValueError):
    """A frame or answer that breaks the protocol; the message says what was expected."""


def encode_frame(request_id: int, args: dict, data: bytes = b"") -> bytes:
    """Header + payload for one request."""
    payload = json.dumps(args, separators=(",", ":")).encode() + b"\n" + bytes(data)
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"request payload is {len(payload)} bytes, the board takes at most "
                            f"{MAX_PAYLOAD}")
    head = struct.pack("<4sBBHII", MAGIC, PROTOCOL_VERSION, 0, request_id & 0xFFFF,
                       len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def decode_answer(line: bytes):
    """The answer dict of one answer line, or None for a line that is not an answer."""
    line = line.strip()
    if not line.startswith(ANSWER_PREFIX):
        return None
    try:
        answer = json.loads(line)
    except ValueError:
        raise ProtocolError(f"answer line is not valid JSON: {line[:80]!r}") from None
    if not isinstance(answer, dict) or "id" not in answer or "ok" not in answer:
        raise ProtocolError(f"answer lacks 'id' or 'ok': {line[:80]!r}")
    return answer
