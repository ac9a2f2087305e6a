"""Build hook: the wheel carries translations/*/LC_MESSAGES/messages.po as hub/translations/.

Everything else about the package is in pyproject.toml.  translations/ lives at the
repository top level (where pybabel and translators work); an installed hub looks for
it beside its own code (hub.i18n.translations_source) and compiles it at start-up, so
no manual step is needed after `pip install`.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads translations/ from the checkout itself
        target = Path(self.build_lib) / "hub" / "translations"
        for po in sorted((HERE / "translations").glob("*/LC_MESSAGES/messages.po")):
            destination = target / po.relative_to(HERE / "translations")
            self.mkpath(str(destination.parent))
            self.copy_file(str(po), str(destination))


setup(cmdclass={"build_py": BuildPyWithCatalogs})
