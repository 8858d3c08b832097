"""The C lookup tables are the generator's, and the generator matches its formulas."""
import math
from pathlib import Path

from ftervit.reference.tables import c_header_text, exp2_table, gelu_table

ROOT = Path(__file__).resolve().parents[1]


def test_c_header_is_generated_from_the_reference_tables():
    assert (ROOT / "native_module" / "ftv_tables.h").read_text() == c_header_text(), \
        "regenerate with: python -m ftervit.reference.tables native_module/ftv_tables.h"


def test_exp2_table_endpoints():
    table = exp2_table()
    assert len(table) == 256 and table[0] == 32768
    assert table[128] == round(32768 / math.sqrt(2))
    assert all(a > b for a, b in zip(table, table[1:]))


def test_gelu_table_matches_gelu_within_half_a_step():
    table = gelu_table()
    assert len(table) == 1025
    for i in (0, 300, 512, 700, 1024):
        x = -8 + i / 64
        exact = 0.5 * x * (1 + math.erf(x / math.sqrt(2))) * 4096
        assert abs(table[i] - exact) <= 0.5
