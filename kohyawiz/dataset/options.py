"""What the dataset doctor checks a folder against: the plan's subject, tag style, resolution,
caption extension and text-encoder length. Kept apart from the doctor so a command that only
refuses a config (`kohyawiz check dataset.toml`) loads none of the checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS


@dataclass
class CheckOptions:
    subject: str = "character"
    tags: str = "natural"
    resolution: int = 512
    """The training resolution images are compared with (D-SMALL); 512 is the smallest kohyawiz plans."""
    caption_extension: str = ".txt"
    multi_concept: bool | None = None
    asymmetric: bool = False
    implications: dict[str, set[str]] = field(default_factory=lambda: dict(BUILTIN_IMPLICATIONS))
    max_tokens: int = 75
    """Tokens of a caption the text encoder reads (sd-scripts' max_token_length, 75 unless set)."""
