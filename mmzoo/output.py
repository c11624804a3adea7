"""Human output as terminal tables, machine output as one JSON document on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(width=max(100, Console().width)).print(table)


def warn(message: str) -> None:
    print(f"mmzoo: {message}", file=sys.stderr)
