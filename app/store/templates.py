"""Loading note templates from disk: the bundled ones plus any site folder (same id: the later
folder wins). A broken file is reported, not fatal, as long as one template loads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app._resources import resource_path
from app.domain.errors import TemplateError
from app.domain.templates import NoteTemplate, default_template, parse_template

MAX_TEMPLATE_BYTES = 256 * 1024


@dataclass(frozen=True)
class TemplateCatalog:
    templates: tuple[NoteTemplate, ...]
    problems: tuple[str, ...] = ()  # one message per file that could not be used

    @property
    def default(self) -> NoteTemplate:
        return default_template(self.templates)

    def get(self, template_id: str) -> NoteTemplate | None:
        return next((t for t in self.templates if t.id == template_id), None)


def load_templates(extra_dirs: Sequence[Path] = ()) -> TemplateCatalog:
    found: dict[str, NoteTemplate] = {}
    problems: list[str] = []
    for folder in (resource_path("templates"), *extra_dirs):
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            try:
                if file.stat().st_size > MAX_TEMPLATE_BYTES:
                    raise TemplateError(file.stem, f"{file.name} is larger than 256 KB")
                template = parse_template(json.loads(file.read_text("utf-8")))
            except TemplateError as exc:
                problems.append(exc.user_message)
                continue
            except (OSError, ValueError, RecursionError) as exc:
                problems.append(f"The note template file {file} cannot be read: {exc}")
                continue
            found[template.id] = template
    return TemplateCatalog(tuple(found.values()), tuple(problems))
