"""Human output as terminal tables, machine output as one JSON document on stdout."""

from __future__ import annotations

import json
import math
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any


def escape_controls(text: str) -> str:
    """Control characters, line separators, bidi overrides and lone surrogates as escapes
    (\\n, \\x1b, \\u2028, \\u202e), so an item stays on one line and nothing reaches the terminal raw."""
    if text.isprintable() and BIDI_CONTROLS.isdisjoint(text):
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


# Bidirectional embeddings, overrides and isolates (U+202E turns "gpj.exe" around):
# they reorder the terminal's text, so they are shown as escapes too.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(c: str) -> str:
    if unicodedata.category(c) not in ("Cc", "Zl", "Zp", "Cs") and c not in BIDI_CONTROLS:
        return c  # e.g. a zero-width joiner: harmless, and part of some names
    code = ord(c)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def print_json(doc: Any) -> None:
    """Strict JSON: NaN or infinity (a train loss at --steps 0) becomes null, which every
    JSON parser reads; Python's bare NaN is not JSON."""
    sys.stdout.write(json.dumps(_finite(doc), indent=2, default=str, allow_nan=False) + "\n")


def _finite(doc: Any) -> Any:
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_finite(v) for v in doc]
    return doc


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, show_header: bool = True
) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ModuleNotFoundError:  # the torch-free install has no rich: plain text
        print_plain_table(headers, rows, title, show_header)
        return

    table = Table(show_edge=False, header_style="bold", show_header=show_header)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:  # Text, not str: rich would read "[...]" in a value as markup
        table.add_row(*(Text(escape_controls(str(c))) for c in row))
    console = Console(width=max(100, Console().width))
    if title:  # above the table, not wrapped to a narrow table's width
        console.print(escape_controls(title), style="bold", markup=False, highlight=False)
    console.print(table)


def print_plain_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, show_header: bool = True
) -> None:
    """Columns padded with spaces, as `print_table` without rich."""
    cells = [[escape_controls(str(c)) for c in row] for row in rows]
    widths = [max([len(h) if show_header else 0, *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    if show_header:
        lines += ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
        lines += ["  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    sys.stdout.write("".join(line + "\n" for line in lines))


def print_error(message: str, argv: Sequence[str]) -> None:
    """The one error line on stderr, escaped (it may quote names from a file); under --json
    also {"error": ...} on stdout, so a program reading stdout gets a document either way."""
    print(f"mmzoo: error: {escape_controls(message)}", file=sys.stderr)
    if "--json" in argv:
        print_json({"error": message})


def warn(message: str) -> None:
    print(f"mmzoo: {escape_controls(message)}", file=sys.stderr)  # it may quote a plugin's or a file's text


def print_samples(doc: dict[str, Any], as_json: bool) -> None:
    """Samples one per line on stdout; the novelty summary on stderr."""
    if as_json:
        print_json(doc)
        return
    sys.stdout.write("".join(escape_controls(s) + "\n" for s in doc["samples"]))
    summary = doc.get("novelty")
    if summary:
        print(
            f"{summary['train']} in the training data, {summary['val_test']} in val/test, {summary['new']} new",
            file=sys.stderr,
        )


def print_info(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(doc)
        return
    print_table(["key", "value"], [[k, v] for k, v in doc["metadata"].items()], title=doc["path"])
    print_table(
        ["io", "name", "type", "shape"],
        [["input", i["name"], i["type"], i["shape"]] for i in doc["inputs"]]
        + [["output", o["name"], o["type"], o["shape"]] for o in doc["outputs"]],
    )
    print("providers available: " + ", ".join(doc["providers_available"]))
