# Answer framed requests from the host over the board's serial link.
#
# Run it on the board (`mpremote run device/serve.py`, or import it from main.py)
# or on MicroPython's unix port; the host side is ftervit.board (protocol.py
# holds the frame layout, docs/board-link.md the commands). A request is
#
#     b"FTVL" version flags id:u16 length:u32 crc:u32 head_crc:u32   (little-endian)
#     payload: one JSON line with "cmd", then raw bytes
#
# and every answer is one line of JSON starting with {"ftv":1, ...}. Bytes before a
# magic are skipped; a corrupted header, an oversized length, a bad payload CRC
# or a frame whose bytes stop arriving is refused with one error answer, and the
# server goes back to looking for the next magic, so the host can always retry.
import binascii
import gc
import hashlib
import json
import os
import select
import struct
import sys
import time

import micropython

MAGIC = b"FTVL"
PROTOCOL_VERSION = 1
HEADER = "<4sBBHIII"
HEADER_SIZE = 20
# the receive buffer: a 240x240 RGB888 camera frame (the largest classify request) plus its
# JSON; it also holds one chunk of file data
MAX_PAYLOAD = 240 * 240 * 3 + 4096
MAX_ARGS = 4096                  # the JSON line at the start of a payload
STALL_MS = 1000                  # a frame whose bytes stop for this long is dropped
BLOCK = 256                      # bytes read at a time once poll says some have come
HASH_BLOCK = 4096


class Stalled(Exception):
    pass


class Refused(Exception):
    # a request the server answers with ok=false: (request id or None, message)
    pass


def part_name(path, sha256):
    # a half-written file keeps the hash it is meant to have in its name, so a resumed
    # transfer never appends to the bytes of another file
    return path + "." + sha256[:16] + ".part"


def file_size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def file_sha256(path):
    digest = hashlib.sha256()
    block = bytearray(HASH_BLOCK)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(block)
            if not n:
                break
            digest.update(memoryview(block)[:n])
    return binascii.hexlify(digest.digest()).decode()


def make_parents(path):
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        folder = "/".join(parts[:i])
        if folder and file_size(folder) < 0:
            os.mkdir(folder)


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Link:
    # The byte stream from the host: sys.stdin.buffer, polled so a stall is noticed.

    def __init__(self, max_payload=MAX_PAYLOAD):
        self.stream = sys.stdin.buffer
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.buffer = bytearray(max_payload)
        self.view = memoryview(self.buffer)
        self.byte = bytearray(1)
        self.byte_view = memoryview(self.byte)   # slices of a memoryview write through
        self.head = bytearray(HEADER_SIZE)

    def read_into(self, view, count, wait_ms):
        got = 0
        while got < count:
            if not self.poller.poll(wait_ms):
                raise Stalled("%d of %d bytes came, then none for %d ms" % (got, count, wait_ms))
            n = self.stream.readinto(view[got:min(count, got + BLOCK)])
            if not n:
                raise EOFError
            got += n

    def next_byte(self):
        self.read_into(self.byte_view, 1, -1)   # waiting for a request: no time limit
        return self.byte[0]

    def skip_to_magic(self):
        # bytes skipped before the next magic; MAGIC has no repeated prefix, so a
        # mismatch can only restart a match at its first byte
        skipped = matched = 0
        while matched < 4:
            b = self.next_byte()
            if b == MAGIC[matched]:
                matched += 1
            else:
                skipped += matched + (b != MAGIC[0])
                matched = 1 if b == MAGIC[0] else 0
        return skipped

    def receive(self):
        # (request id, args dict, data memoryview, bytes skipped before the magic)
        skipped = self.skip_to_magic()
        head = self.head
        head[0:4] = MAGIC
        try:
            self.read_into(memoryview(head)[4:], HEADER_SIZE - 4, STALL_MS)
        except Stalled as exc:
            raise Refused(None, "stalled in the frame header: %s" % exc)
        _, version, _, rid, length, crc, head_crc = struct.unpack(HEADER, head)
        if binascii.crc32(memoryview(head)[:HEADER_SIZE - 4]) != head_crc:
            raise Refused(None, "frame header CRC mismatch (corrupted header or length)")
        if version != PROTOCOL_VERSION:
            raise Refused(rid, "protocol version %d, this server speaks %d"
                          % (version, PROTOCOL_VERSION))
        if length > len(self.buffer):
            raise Refused(rid, "payload of %d bytes, this board takes at most %d"
                          % (length, len(self.buffer)))
        try:
            self.read_into(self.view, length, STALL_MS)
        except Stalled as exc:
            raise Refused(rid, "stalled in the payload: %s" % exc)
        if binascii.crc32(self.view[:length]) != crc:
            raise Refused(rid, "payload CRC mismatch (%d bytes)" % length)
        args, data = self.split(rid, length)
        return rid, args, data, skipped

    def split(self, rid, length):
        start = bytes(self.view[:min(length, MAX_ARGS)])
        end = start.find(b"\n")
        if end < 0:
            raise Refused(rid, "payload has no JSON line within its first %d bytes" % MAX_ARGS)
        try:
            args = json.loads(start[:end])
        except ValueError:
            raise Refused(rid, "payload's first line is not JSON")
        if not isinstance(args, dict) or "cmd" not in args:
            raise Refused(rid, "payload's JSON has no 'cmd'")
        return args, self.view[end + 1:length]


def answer(rid, ok, fields):
    # the key "ftv" first, so the host tells answers from anything else printed
    fields["id"] = rid
    fields["ok"] = ok
    sys.stdout.write('{"ftv":%d, %s\n' % (PROTOCOL_VERSION, json.dumps(fields)[1:]))


class Server:
    def __init__(self, link):
        self.link = link
        self.writing = None   # (part path, open file, bytes in it)
        self.running = True
        self.model = None
        self.model_path = None

    def cmd_info(self, args, data):
        try:
            import _ftervit  # (the native module: built in, or an .mpy on the path)
            native = True
            # an .mpy has a file, which deploy checks like the others; built in has none
            native_file = getattr(_ftervit, "__file__", "")
        except ImportError:
            native = False
            native_file = ""
        gc.collect()
        impl = sys.implementation
        return {"impl": impl.name, "version": ".".join(str(v) for v in impl.version[:3]),
                "mpy": getattr(impl, "_mpy", 0), "platform": sys.platform,
                "machine": getattr(impl, "_machine", ""), "mem_free": gc.mem_free(),
                "max_payload": len(self.link.buffer), "protocol": PROTOCOL_VERSION,
                "native_module": native, "native_file": native_file}

    def cmd_echo(self, args, data):
        return {"size": len(data), "crc": binascii.crc32(data), "text": args.get("text", "")}

    def cmd_hash(self, args, data):
        path = args["path"]
        size = file_size(path)
        if size < 0:
            return {"exists": False}
        return {"exists": True, "size": size, "sha256": file_sha256(path)}

    def cmd_put_begin(self, args, data):
        path, size, sha = args["path"], args["size"], args["sha256"]
        self.close_part()
        make_parents(path)
        part = part_name(path, sha)
        have = file_size(part)
        if have > size:
            remove_quietly(part)
            have = -1
        handle = open(part, "ab" if have >= 0 else "wb")
        self.writing = (part, handle, max(have, 0))
        return {"offset": max(have, 0)}

    def cmd_put_chunk(self, args, data):
        if self.writing is None:
            raise ValueError("put_chunk before put_begin")
        part, handle, have = self.writing
        if args["offset"] != have:
            raise ValueError("chunk at offset %d, the part file holds %d bytes"
                             % (args["offset"], have))
        handle.write(data)
        handle.flush()
        self.writing = (part, handle, have + len(data))
        return {"offset": have + len(data)}

    def cmd_put_end(self, args, data):
        path, sha = args["path"], args["sha256"]
        part = part_name(path, sha)
        self.close_part()
        got = file_sha256(part)
        if got != sha:
            remove_quietly(part)
            raise ValueError("%s: SHA-256 %s, expected %s; the part file is removed"
                             % (path, got, sha))
        remove_quietly(path)
        os.rename(part, path)
        return {"size": file_size(path), "sha256": got}

    def cmd_remove(self, args, data):
        existed = file_size(args["path"]) >= 0
        remove_quietly(args["path"])
        return {"removed": existed}

    def cmd_selftest(self, args, data):
        # load the model with the device package and run its golden vector there
        import ftervit
        model = ftervit.load(path=args["path"], selftest=True)
        return {"passed": True, "labels": len(model.labels or ()), "memory": model.memory}

    def cmd_classify(self, args, data):
        # one camera frame (the payload's data, as the driver delivers it) through the
        # device package: Model.classify, the same C frame path as classify.py
        model = self.model_at(args.get("path", "model.ftv"))
        topk = int(args.get("topk", 5))
        start = time.ticks_us()
        top = model.classify(data, args["width"], args["height"], args["fmt"], topk)
        took = time.ticks_diff(time.ticks_us(), start) / 1000
        return {"top": [[label, logit] for label, logit in top],
                "logits": list(model.logits), "classify_ms": took}

    def cmd_bench(self, args, data):
        # one camera frame, each stage of it timed on the board (Model.timed_classify)
        model = self.model_at(args.get("path", "model.ftv"))
        gc.collect()
        stages = model.timed_classify(data, args["width"], args["height"], args["fmt"])
        return {"stages": [[name, us] for name, us in stages],
                "total_us": sum(us for _, us in stages), "logits": list(model.logits)}

    def model_at(self, path):
        # loaded (and self-tested) once per path; later requests reuse its buffers
        if self.model is None or self.model_path != path:
            import ftervit
            self.model = None
            gc.collect()
            self.model = ftervit.load(path=path, selftest=True)
            self.model_path = path
        return self.model

    def cmd_quit(self, args, data):
        self.running = False
        return {}

    def close_part(self):
        if self.writing is not None:
            self.writing[1].close()
            self.writing = None

    def handle(self, rid, args, data, skipped):
        start = time.ticks_us()
        command = getattr(self, "cmd_" + str(args["cmd"]), None)
        if command is None:
            answer(rid, False, {"error": "unknown command %r" % args["cmd"]})
            return
        try:
            fields = command(args, data)
        except KeyError as exc:
            answer(rid, False, {"error": "%s: missing argument %s" % (args["cmd"], exc)})
            return
        except Exception as exc:  # one answer naming the problem; the server goes on
            answer(rid, False, {"error": "%s: %s: %s" % (args["cmd"], type(exc).__name__, exc)})
            return
        fields["ms"] = time.ticks_diff(time.ticks_us(), start) / 1000
        if skipped:
            fields["skipped"] = skipped
        answer(rid, True, fields)

    def serve(self):
        while self.running:
            try:
                request = self.link.receive()
            except Refused as exc:
                answer(exc.args[0], False, {"error": exc.args[1]})
                continue
            except EOFError:
                break
            self.handle(*request)
        self.close_part()


def main():
    micropython.kbd_intr(-1)   # binary payloads carry 0x03: not a Ctrl-C here
    try:
        answer(None, True, {"ready": True, "protocol": PROTOCOL_VERSION})
        Server(Link()).serve()
    finally:
        micropython.kbd_intr(3)


main()
