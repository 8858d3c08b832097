"""Render the results table of docs/results.md as accuracy vs deployed bytes (PNG).

    python bench/plot_results.py                  # docs/results.md -> docs/results_fmnist.png

The table between the markers `<!-- results-table:begin -->` and
`<!-- results-table:end -->` is the single source: one row per model with
columns `label | model | mode | params | bytes | bytes 1.6-bit | top-1 % | top-5 %`
(bytes: float32 file for float models, 2-bit ternary file for ternary ones).
Needs matplotlib (`pip install -e '.[plot]'`).
"""
import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
STYLE = {"float": ("tab:blue", "o"), "full": ("tab:red", "*"), "encoder": ("tab:green", "s")}
LEGEND = {"float": "float", "full": "full ternary (FTerViT)", "encoder": "encoder-only ternary"}


def _number(cell: str):
    cell = cell.strip().replace(",", "").replace("*", "")
    return float(cell) if re.fullmatch(r"-?\d+(\.\d+)?", cell) else None


def read_table(markdown: str):
    if BEGIN not in markdown or END not in markdown:
        raise ValueError(f"no table between {BEGIN} and {END}")
    block = markdown.split(BEGIN, 1)[1].split(END, 1)[0]
    lines = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("|")]
    rows = []
    for line in lines[2:]:  # header and separator first
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 8:
            continue
        rows.append({"label": cells[0].replace("**", ""), "model": cells[1].strip("`"),
                     "mode": cells[2], "bytes": _number(cells[4]),
                     "bytes_tern3": _number(cells[5]), "top1": _number(cells[6])})
    if not rows:
        raise ValueError("the results table has no rows")
    return rows


def plot(rows, out: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=130)
    for r in rows:
        color, marker = STYLE.get(r["mode"].split()[0], ("tab:gray", "o"))
        ax.scatter(r["bytes"], r["top1"], color=color, marker=marker, s=90, zorder=3)
        ax.annotate(r["label"], (r["bytes"], r["top1"]), textcoords="offset points",
                    xytext=(7, 4), fontsize=8)
        if r["bytes_tern3"]:
            ax.scatter(r["bytes_tern3"], r["top1"], facecolors="none", edgecolors=color,
                       marker=marker, s=90, zorder=3)
            ax.plot([r["bytes_tern3"], r["bytes"]], [r["top1"]] * 2, color=color, lw=0.8,
                    ls=":", zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("deployed model bytes (log scale; hollow: 1.6-bit ternary packing)")
    ax.set_ylabel("top-1 accuracy on the test set (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    lo = min(r["top1"] for r in rows)
    hi = max(r["top1"] for r in rows)
    ax.set_ylim(lo - 0.3, hi + 0.3)
    handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=LEGEND[k])
               for k, (c, m) in STYLE.items()]
    ax.legend(handles=handles, title="weights", loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    p.add_argument("--out", default=str(REPO / "docs" / "results_fmnist.png"))
    p.add_argument("--title", default="Fashion-MNIST: accuracy vs deployed size "
                                      "(6-block 192-wide ViT, 28 px)")
    args = p.parse_args(argv)
    try:
        rows = read_table(Path(args.results).read_text())
    except (OSError, ValueError) as exc:
        print(f"plot_results: {exc}", file=sys.stderr)
        return 2
    print(plot(rows, Path(args.out), args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
