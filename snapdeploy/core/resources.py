"""Where the package's data files lie, found through `importlib.resources`.

Targets, kernels, HLS sources and constants ship inside the package, so a wheel finds them
where a checkout does; none is reached through the repository root. Callers get a `Path`
because g++, `shutil` and error messages need one: a wheel installs as plain files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from snapdeploy.core.errors import SnapdeployError


def package_path(package: str, *parts: str) -> Path:
    """The file or folder `parts` inside `package`, as a filesystem path."""
    resource = files(package).joinpath(*parts)
    if not isinstance(resource, Path):
        raise SnapdeployError(
            f"{package} is imported from an archive, so {'/'.join(parts)} is not a file; "
            "fix: install snapdeploy as a wheel (pip install) rather than running it zipped"
        )
    return resource
