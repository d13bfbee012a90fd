"""Packaging code that setup.cfg cannot declare.

- The pages live at the top level in `templates/` (the project's layout) but must travel
  inside the package: `templates/` is mapped to the package `idp.templates`.
- The English catalogue is tracked as a .po only: `build_py` compiles it into the .mo that
  Flask-Babel loads, so a plain `pip install .` or a wheel is translated without any step
  after installation (site-packages may well be read-only). Editable installs use the
  checkout, where the development command `pybabel compile` does it.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py


class BuildWithCompiledCatalogues(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path(self.build_lib, "idp", "translations").glob("*/LC_MESSAGES/*.po"):
            with open(po, "rb") as handle:
                catalog = read_po(handle, locale=po.parent.parent.name)
            with open(po.with_suffix(".mo"), "wb") as handle:
                write_mo(handle, catalog)


setup(
    packages=[*find_namespace_packages(include=["idp", "idp.*"], exclude=["*.__pycache__"]), "idp.templates"],
    package_dir={"idp.templates": "templates"},
    cmdclass={"build_py": BuildWithCompiledCatalogues},
)
