"""A small report writer: Markdown + HTML side by side, with tables and PNG figures.

Used by every pipeline and analysis command so reports look alike.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


@dataclass
class Report:
    """Collects sections, then writes ``report.md`` and ``report.html`` into ``out``."""

    title: str
    out: Path
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = "") -> None:
        self.blocks.append(("table", (list(header), [[_fmt(c) for c in r] for r in rows], caption)))

    def image(self, path: str | Path, *, caption: str = "") -> None:
        """Add a PNG that already lies in ``out`` (relative path kept in the report)."""
        rel = Path(path).resolve().relative_to(self.out.resolve())
        self.blocks.append(("img", (str(rel), caption)))

    def write(self) -> Path:
        md = [f"# {self.title}", ""]
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, val in self.blocks:
            if kind == "h2":
                md += [f"## {val}", ""]
                body.append(f"<h2>{html.escape(val)}</h2>")
            elif kind == "p":
                md += [val, ""]
                body.append(f"<p>{html.escape(val)}</p>")
            elif kind == "table":
                header, rows, caption = val
                md.append("| " + " | ".join(header) + " |")
                md.append("|" + "---|" * len(header))
                md += ["| " + " | ".join(r) + " |" for r in rows]
                md.append("")
                if caption:
                    md += [f"*{caption}*", ""]
                th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
                body.append(f"<table>{cap}<tr>{th}</tr>{trs}</table>")
            elif kind == "img":
                rel, caption = val
                md += [f"![{caption}]({rel})", ""]
                body.append(f'<figure><img src="{html.escape(rel)}" style="max-width:100%"><figcaption>{html.escape(caption)}</figcaption></figure>')
        (self.out / "report.md").write_text("\n".join(md))
        style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        (self.out / "report.html").write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
        )
        if self.data:
            (self.out / "report.json").write_text(json.dumps(self.data, indent=2, default=float))
        return self.out / "report.md"
