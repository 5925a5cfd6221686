"""Text from people, files and plans reaches the screen as plain text, never as markup.

Every Static, label, cell and message that shows data goes through `plain` (or `styled`): square
brackets in a path, an override or a network argument are shown as typed.
"""

from __future__ import annotations

from rich.text import Text

LONGEST = 2000
"""Characters of one piece of text the wizard shows; the rest is cut with an ellipsis."""


def _clean(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    # Control characters would move the cursor or ring the bell; newlines and tabs are kept.
    text = "".join(c if c in "\n\t" or c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be drawn
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(value: object, limit: int = LONGEST) -> Text:
    return Text(_clean(value, limit))


def styled(value: object, style: str, limit: int = LONGEST) -> Text:
    return Text(_clean(value, limit), style=style)


def join(*parts: Text | str) -> Text:
    """Pieces in order; str pieces are plain text too."""
    out = Text()
    for part in parts:
        out.append_text(part if isinstance(part, Text) else plain(part))
    return out


def error(value: object) -> Text:
    return styled(value, "bold red")


def warning(value: object) -> Text:
    return styled(value, "yellow")


def strong(value: object) -> Text:
    return styled(value, "bold")
