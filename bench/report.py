"""Where every bench puts its table: bench/results/NAME.md, and stdout."""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def publish(name: str, lines: list[str]) -> None:
    """Write the markdown table to bench/results/<name>.md and print it."""
    text = "\n".join(lines) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
