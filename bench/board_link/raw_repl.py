# MicroPython's raw REPL (shared/runtime/pyexec.c), written in MicroPython for the unix
# port, whose own REPL has no raw mode: it lets mpremote's real transport code run over
# the same pty link as device/serve.py, so the two file transfers can be compared.
# It speaks what mpremote uses: Ctrl-A (enter), raw-paste (Ctrl-E A Ctrl-A, flow-control
# window of 128 bytes as with MICROPY_REPL_STDIN_BUFFER_MAX = 256), Ctrl-D (execute).
# It reads byte by byte, as pyexec.c does, but in Python: slower per byte than the C.
import sys

import micropython

WINDOW = 128
stdin = sys.stdin.buffer
out = sys.stdout.buffer
scope = {}


def next_byte():
    b = stdin.read(1)
    if not b:
        raise SystemExit
    return b[0]


def execute(source):
    # output, Ctrl-D, error text, Ctrl-D: what mpremote's follow() reads
    error = ""
    try:
        exec(bytes(source), scope)
    except Exception as exc:  # the error text goes back to the host, as in pyexec.c
        error = "Traceback (most recent call last):\r\n%s: %s\r\n" % (type(exc).__name__, exc)
    out.write(b"\x04" + error.encode() + b"\x04")


def raw_paste():
    out.write(b"R\x01" + bytes([WINDOW & 0xFF, WINDOW >> 8, 1]))
    source = bytearray()
    remain = WINDOW
    while True:
        c = next_byte()
        if c == 4:
            out.write(b"\x04")
            break
        source.append(c)
        remain -= 1
        if remain == 0:
            out.write(b"\x01")
            remain = WINDOW
    execute(source)


def main():
    micropython.kbd_intr(-1)
    line = bytearray()
    while True:
        c = next_byte()
        if c == 1:
            if line == b"\x05A":
                raw_paste()
            else:
                out.write(b"raw REPL; CTRL-B to exit\r\n")
            line = bytearray()
            out.write(b">")
        elif c == 3:
            line = bytearray()
        elif c == 4:
            out.write(b"OK")
            execute(line)
            line = bytearray()
            out.write(b">")
        elif c != 2 and not (c == 13 and not line):
            line.append(c)


main()
