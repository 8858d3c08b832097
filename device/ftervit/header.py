"""The head of a `.ftv` file, parsed in Python: header and config (docs/format.md §3, §4).

These are the checks the loader runs before it allocates the model's buffer
(format.md §9, steps 1 and 2), with the host reader's messages
(host/ftervit/ftv/reader.py), so one bad file gets one diagnosis everywhere.
The native binder repeats every check over the whole file; this copy exists
so that a wrong file is refused before megabytes are allocated for it.
"""
import struct

MAGIC = b"FTVM"
FORMAT_VERSION = 1          # the docs/format.md version this package reads
ARITH_VERSION = 1           # the docs/arithmetic.md version this package expects
HEADER = "<4sHHIIIIIIII"
HEADER_BYTES = 40
HEAD_CRC_OFFSET = 36        # head_crc32 is the header's last field
ENTRY_BYTES = 64
CONFIG_FIELDS = ("arith_version", "img_size", "patch_size", "in_chans", "embed_dim",
                 "depth", "num_heads", "mlp_dim", "num_classes", "cls_pos", "layerscale",
                 "layout", "attn_logit_mult", "residual_frac_bits")
RESIDUAL_FRAC_BITS = 12     # the residual stream's x12 format, the one implemented
LOGIT_FRAC_BITS = 12        # logits are x12: real = v * 2**-12 (docs/arithmetic.md)


class FormatError(ValueError):
    """A model file breaks docs/format.md; the message names the field."""


def parse_header(raw, file_len):
    """The header fields as a dict, checked against the file's real length."""
    if len(raw) < HEADER_BYTES:
        raise FormatError("file_size: truncated: expected at least the %d-byte header, "
                          "found %d bytes" % (HEADER_BYTES, len(raw)))
    (magic, version, config_count, tensor_count, file_size, labels_offset, labels_length,
     golden_offset, golden_length, payload_crc, head_crc) = struct.unpack(HEADER, raw)
    if magic != MAGIC:
        raise FormatError("magic: expected %r (not an .ftv model file?), found %r"
                          % (MAGIC, magic))
    if version > FORMAT_VERSION:
        raise FormatError("format_version: file is version %d, this reader supports up to "
                          "%d: update ftervit" % (version, FORMAT_VERSION))
    if version != FORMAT_VERSION:
        raise FormatError("format_version: expected %d, found %d" % (FORMAT_VERSION, version))
    if config_count != len(CONFIG_FIELDS):
        raise FormatError("config_count: expected %d for format version %d, found %d"
                          % (len(CONFIG_FIELDS), version, config_count))
    if file_size != file_len:
        what = "truncated" if file_len < file_size else "trailing bytes"
        raise FormatError("file_size: %s: header says %d bytes, found %d"
                          % (what, file_size, file_len))
    head_end = HEADER_BYTES + 4 * config_count + ENTRY_BYTES * tensor_count
    if head_end > file_len:
        raise FormatError("tensor_count: a table of %d entries ends at byte %d, past the "
                          "end of the %d-byte file" % (tensor_count, head_end, file_len))
    return {"format_version": version, "config_count": config_count,
            "tensor_count": tensor_count, "file_size": file_size, "head_end": head_end,
            "labels_offset": labels_offset, "labels_length": labels_length,
            "golden_offset": golden_offset, "golden_length": golden_length,
            "payload_crc32": payload_crc, "head_crc32": head_crc}


def parse_config(buf):
    """The config fields as a dict (values unchecked: the binder checks them)."""
    values = struct.unpack_from("<%di" % len(CONFIG_FIELDS), buf, HEADER_BYTES)
    return dict(zip(CONFIG_FIELDS, values))


def check_crc(field, what, stored, computed):
    if stored != computed:
        raise FormatError("%s: CRC mismatch (%s corrupt): stored 0x%08x, computed 0x%08x"
                          % (field, what, stored, computed))


def check_arith_version(config, implemented):
    """Refuse a file whose integers follow an arithmetic the native module lacks, or
    whose residual stream has another format (the host's runtimes refuse the same)."""
    found = config["arith_version"]
    if found != implemented:
        raise FormatError("config.arith_version: the file follows arithmetic version %d, "
                          "the native module _ftervit implements %d: re-pack the model or "
                          "deploy the matching _ftervit" % (found, implemented))
    found = config["residual_frac_bits"]
    if found != RESIDUAL_FRAC_BITS:
        raise FormatError("config.residual_frac_bits: expected %d, found %d: the file needs "
                          "a residual stream with %d fraction bits, which this runtime does "
                          "not implement: re-pack the model" % (RESIDUAL_FRAC_BITS, found, found))
