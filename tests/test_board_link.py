"""device/serve.py on MicroPython's unix port behind a pseudo-terminal, driven through
pyserial as a board would be: answers, file transfer, and every way the link breaks.
In each fault the host gets one clear error within its timeout and the board answers
the next request."""
import hashlib
import os
import struct
import time
import zlib

import pytest

from ftervit.board.link import BoardError, BoardLink, LinkError
from ftervit.board.protocol import HEADER, MAGIC, PROTOCOL_VERSION, encode_frame
from ftervit.board.pty_board import PtyBoard
from ftervit.board.transfer import put_file

BOARD_STALL_S = 1.0  # device/serve.py STALL_MS


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with PtyBoard(cwd=tmp_path_factory.mktemp("board_fs")) as b:
        yield b


@pytest.fixture
def link(board):
    if board.process.poll() is not None:   # a test before killed it
        board.start()
    board.stalled.clear()
    board.flip_at = None
    lk = BoardLink.open(board.port, timeout=5.0)   # checks that serve.py answers
    yield lk
    lk.close()


def header(rid, length, crc, head_crc=None):
    head = struct.pack("<4sBBHII", MAGIC, PROTOCOL_VERSION, 0, rid, length, crc)
    return head + struct.pack("<I", zlib.crc32(head) if head_crc is None else head_crc)


def test_info_names_the_runtime(link):
    info = link.request("info")
    assert info["impl"] == "micropython" and info["platform"] == "linux"
    assert info["mpy"] & 0xFF == 6 and info["max_payload"] >= 32 * 1024
    assert info["native_module"] is False and info["mem_free"] > 0


def test_echo_returns_the_request_id_and_the_data_crc(link):
    data = bytes(range(256)) * 9 + b"\x03\x04\x01\x02"   # Ctrl-C/D/A/B bytes are data here
    rid = 4242
    answer = link.send_frame(encode_frame(rid, {"cmd": "echo", "text": "ünï"}, data), rid, "echo")
    assert answer["ok"] and answer["id"] == rid and answer["text"] == "ünï"
    assert answer["size"] == len(data) and answer["crc"] == zlib.crc32(data)


def test_garbage_before_the_header_is_skipped_and_counted(link):
    garbage = b"boot messages\r\n\x03\x00FTV FT"
    answer = link.send_frame(garbage + encode_frame(7, {"cmd": "echo"}, b"abc"), 7, "echo")
    assert answer["ok"] and answer["skipped"] == len(garbage) and answer["size"] == 3


def test_corrupted_length_is_refused_at_once(link):
    frame = bytearray(encode_frame(8, {"cmd": "echo"}, b"x" * 100))
    frame[8:12] = struct.pack("<I", 5_000_000)   # the length, head CRC left as it was
    start = time.monotonic()
    answer = link.send_frame(bytes(frame[:HEADER.size]), 8, "corrupt header")
    assert time.monotonic() - start < BOARD_STALL_S / 2  # not waiting for bytes to come
    assert not answer["ok"] and answer["id"] is None and "header CRC" in answer["error"]
    assert link.request("echo", data=b"next")["size"] == 4


def test_oversized_length_is_refused_at_once(link):
    start = time.monotonic()
    answer = link.send_frame(header(9, 50_000_000, 0), 9, "oversized")
    assert time.monotonic() - start < BOARD_STALL_S / 2
    assert not answer["ok"] and answer["id"] == 9 and "at most" in answer["error"]
    assert link.request("echo", data=b"next")["size"] == 4


def test_corrupted_payload_byte_fails_the_crc(board, link):
    board.flip_at = board.to_board + HEADER.size + 30   # a byte of the next frame's data
    with pytest.raises(BoardError, match="payload CRC mismatch"):
        link.request("echo", data=bytes(200))
    assert link.request("echo", data=bytes(200))["crc"] == zlib.crc32(bytes(200))


def test_payload_stalled_between_blocks_is_dropped_by_the_board(link):
    frame = encode_frame(10, {"cmd": "echo"}, bytes(1000))
    start = time.monotonic()
    # the board reads 256-byte blocks: these bytes end one, and no more come
    answer = link.send_frame(frame[:HEADER.size + 512], 10, "cut frame", timeout=5.0)
    took = time.monotonic() - start
    assert not answer["ok"] and answer["id"] == 10 and "stalled in the payload" in answer["error"]
    assert BOARD_STALL_S * 0.8 < took < BOARD_STALL_S + 2
    assert link.request("echo", data=b"next")["size"] == 4


def test_payload_cut_inside_a_block_times_out_then_resyncs(link):
    frame = encode_frame(11, {"cmd": "echo"}, bytes(1000))
    start = time.monotonic()
    with pytest.raises(LinkError, match=r"no answer to 'cut frame' \(request 11\) within 2 s"):
        link.send_frame(frame[:HEADER.size + 300], 11, "cut frame", timeout=2.0)
    assert time.monotonic() - start < 3
    assert link.request("echo", data=b"next")["size"] == 4   # resync first, then answered


def test_stalled_cable_times_out_on_the_host_and_recovers(board, link):
    board.stalled.set()
    start = time.monotonic()
    with pytest.raises(LinkError, match=r"no answer to 'echo' \(request \d+\) within 1.5 s"):
        link.request("echo", data=bytes(5000), timeout=1.5)
    assert time.monotonic() - start < 3
    board.stalled.clear()
    assert link.request("echo", data=b"after")["size"] == 5


def test_unknown_command_and_missing_argument_name_the_problem(link):
    with pytest.raises(BoardError, match="unknown command 'fly'"):
        link.request("fly")
    with pytest.raises(BoardError, match="hash: missing argument"):
        link.request("hash")


def test_file_transfer_verifies_by_hash_and_skips_the_same_bytes(board, link):
    data = os.urandom(150_000)
    first = put_file(link, data, "lib/model.bin", chunk=16 * 1024)
    assert first.sent == len(data) and first.resumed_from == 0
    assert (board.cwd / "lib" / "model.bin").read_bytes() == data
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    again = put_file(link, data, "lib/model.bin")
    assert again.skipped
    changed = data[:-1] + bytes([data[-1] ^ 1])
    assert put_file(link, changed, "lib/model.bin").sent == len(data)
    assert (board.cwd / "lib" / "model.bin").read_bytes() == changed


def test_chunk_at_a_wrong_offset_is_refused(link):
    sha = hashlib.sha256(b"abcdef").hexdigest()
    link.request("put_begin", path="w.bin", size=6, sha256=sha)
    with pytest.raises(BoardError, match="offset 3, the part file holds 0 bytes"):
        link.request("put_chunk", path="w.bin", offset=3, data=b"def")


def test_a_file_that_hashes_wrong_is_not_put_in_place(board, link):
    sha = hashlib.sha256(b"abcdef").hexdigest()
    link.request("put_begin", path="bad.bin", size=6, sha256=sha)
    link.request("put_chunk", path="bad.bin", offset=0, data=b"abcdeX")
    with pytest.raises(BoardError, match="SHA-256 .* expected " + sha):
        link.request("put_end", path="bad.bin", sha256=sha)
    assert not (board.cwd / "bad.bin").exists()
    assert not list(board.cwd.glob("bad.bin.*.part"))


def test_board_killed_mid_transfer_then_reconnect_resumes(board, link):
    data = os.urandom(400_000)

    def kill_at_half(done, total):
        if done >= total // 2 and board.process.poll() is None:
            board.kill()

    link.timeout = 2.0
    start = time.monotonic()
    with pytest.raises(LinkError, match="no answer to 'put_chunk'"):
        put_file(link, data, "big.bin", chunk=16 * 1024, progress=kill_at_half)
    assert time.monotonic() - start < 6
    link.close()
    board.start()
    relink = BoardLink.open(board.port, timeout=5.0)
    try:
        result = put_file(relink, data, "big.bin", chunk=16 * 1024)
    finally:
        relink.close()
    assert len(data) // 2 <= result.resumed_from < len(data)
    assert result.sent == len(data) - result.resumed_from
    assert (board.cwd / "big.bin").read_bytes() == data
    assert not list(board.cwd.glob("big.bin.*.part"))
