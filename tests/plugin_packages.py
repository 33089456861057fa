"""Throwaway plugin packages for tests: pip-installed into a folder, like a user's plugin, and put on sys.path."""

import subprocess
import sys
import textwrap
from pathlib import Path


def install_plugin_package(tmp_path_factory, *, package: str, module: str, source: str,
                           entry_points: dict[str, str]) -> Path:
    """Install a one-module package with ``benchbox.models`` entry points into a fresh folder; return it."""
    folder = tmp_path_factory.mktemp(f"{package}-src")
    lines = "\n".join(f'"{name}" = "{target}"' for name, target in entry_points.items())
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{package}"\nversion = "0.0.1"\n\n[project.entry-points."benchbox.models"]\n{lines}\n')
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    site = tmp_path_factory.mktemp(f"{package}-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(folder)], check=True)
    return site
