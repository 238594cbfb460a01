"""What every FPGA core's writer shares: filling a source template kept as a real file, and the
hash of the sources a bitstream is matched by (bitstreams/manifest.json's build_hash)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from snapdeploy.core.errors import BackendError

PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


def fill_template(template: Path, values: dict[str, str]) -> str:
    """The template's text with every {{NAME}} replaced; a placeholder without a value or a
    value without a placeholder is refused (the template and its writer disagree)."""
    if not template.is_file():
        raise BackendError(
            f"{template} is missing; fix: reinstall snapdeploy, whose package data holds the "
            f"core's sources"
        )
    text = template.read_text()
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise BackendError(
            f"{template} and the writer disagree: placeholders without a value "
            f"{sorted(wanted - set(values))}, values without a placeholder "
            f"{sorted(set(values) - wanted)}; fix: update one to match the other"
        )
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def source_hash(sources: list[Path]) -> str:
    """sha256 of the sources (names and bytes): what a bitstream built from them is matched by."""
    digest = hashlib.sha256()
    for path in sorted(sources, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
