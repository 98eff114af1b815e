"""Loading note templates from disk: the bundled ones plus any site folder (same id: the later
folder wins). A broken file is reported, not fatal, as long as one template loads. A site's file
is read like any file a clinic gives the app: only a regular file, size-capped, in UTF-8 or
UTF-16 with a byte-order mark (app._user_files, app.domain.text_files)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app._resources import resource_path
from app._user_files import UserFileError, read_user_file
from app.domain.errors import TemplateError, TextEncodingError
from app.domain.templates import NoteTemplate, default_template, parse_template
from app.domain.text_files import decode_text

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
                text = decode_text(read_user_file(file, limit=MAX_TEMPLATE_BYTES))
                template = parse_template(json.loads(text))
            except TemplateError as exc:
                problems.append(exc.user_message)
                continue
            except UserFileError as exc:
                problems.append(f"The note template file {file} {exc.problem}.")
                continue
            except TextEncodingError as exc:
                problems.append(f"The note template file {file}: {exc.where}: {exc.problem}.")
                continue
            except (ValueError, RecursionError) as exc:
                problems.append(f"The note template file {file} cannot be read: {exc}")
                continue
            found[template.id] = template
    return TemplateCatalog(tuple(found.values()), tuple(problems))
