"""Every package folder of the checkout is installed by `pip install .` (pyproject's explicit list)."""

import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = {"named": "named", "dialect": "named.dialect", "compiler": "named.compiler", "runtime": "named.runtime"}


def test_every_package_folder_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, package in LAYERS.items():
        for here, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                rel = os.path.relpath(here, os.path.join(ROOT, folder))
                found.add(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    assert found - listed == set(), f"package folders missing from pyproject's packages: {sorted(found - listed)}"
    for package in listed - {"named"}:
        assert package in config["package-dir"] or package.split(".")[1] not in LAYERS, package
