"""Everything is declared in setup.cfg; this file only carries the shipped data into wheels.

The repository keeps one copy of the Kaldi recipes (``kaldi_recipes/``) and of the demo model
(``models/demo/``) at its top level. A wheel must carry them inside the package, so the build
copies them to ``deepbrain/kaldi_recipes`` and ``deepbrain/models/demo``, where
``deepbrain.resources`` looks first (a checkout or an editable install finds the top-level
folders). The sdist takes them through MANIFEST.in.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = {"kaldi_recipes": "kaldi_recipes", "models/demo": "models/demo"}
# Kaldi working dirs a user may have made inside kaldi_recipes/ (its .gitignore): not shipped.
IGNORE = shutil.ignore_patterns("data", "exp", "utils", "__pycache__", ".gitignore", "*.pyc")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        for src, dst in SHIPPED.items():
            target = Path(self.build_lib) / "deepbrain" / dst
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / src, target, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
