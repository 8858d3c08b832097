"""The board link's frame and answer encoding (host side, no board)."""
import json
import struct
import zlib

import pytest

from ftervit.board.protocol import (HEADER, MAGIC, MAX_PAYLOAD, PROTOCOL_VERSION, ProtocolError,
                                    decode_answer, encode_frame)


def test_frame_header_carries_id_length_and_both_crcs():
    frame = encode_frame(0x1234, {"cmd": "echo", "text": "é"}, b"\x00\x03\xff")
    magic, version, flags, rid, length, crc, head_crc = HEADER.unpack(frame[:HEADER.size])
    payload = frame[HEADER.size:]
    assert (magic, version, flags, rid) == (MAGIC, PROTOCOL_VERSION, 0, 0x1234)
    assert length == len(payload) and crc == zlib.crc32(payload)
    assert head_crc == zlib.crc32(frame[:HEADER.size - 4])
    line, data = payload.split(b"\n", 1)
    assert json.loads(line) == {"cmd": "echo", "text": "é"} and data == b"\x00\x03\xff"


def test_request_id_wraps_at_16_bits():
    assert HEADER.unpack(encode_frame(0x10005, {"cmd": "x"})[:HEADER.size])[3] == 5


def test_oversized_payload_is_refused_on_the_host():
    with pytest.raises(ProtocolError, match=f"at most {MAX_PAYLOAD}"):
        encode_frame(1, {"cmd": "put_chunk"}, bytes(MAX_PAYLOAD))


def test_answers_are_told_from_console_lines():
    assert decode_answer(b'{"ftv":1, "id": 3, "ok": true, "ms": 1.5}\r\n') == {
        "ftv": 1, "id": 3, "ok": True, "ms": 1.5}
    assert decode_answer(b"MicroPython v1.28.0; ESP32S3 module\r\n") is None
    assert decode_answer(b'{"other": 1}') is None


@pytest.mark.parametrize("line, what", [
    (b'{"ftv":1, "id": 3, "ok": tru', "not valid JSON"),
    (b'{"ftv":1, "ok": true}', "lacks 'id'"),
])
def test_broken_answers_name_the_problem(line, what):
    with pytest.raises(ProtocolError, match=what):
        decode_answer(line)


def test_header_layout_is_twenty_bytes_little_endian():
    assert HEADER.size == 20 and HEADER.format.startswith("<")
    assert struct.calcsize(HEADER.format) == 20
