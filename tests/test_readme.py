"""The README tells the truth: every file of this repository it names exists."""

import re

from support import ROOT

# Paths into the repository as the README writes them (in commands and in prose).
REPO_PATH = re.compile(r"(?<![\w/.-])((?:models|kaldi_recipes|scripts|docs|bench|app|tests)"
                       r"/[\w./-]*\w)")


def test_files_the_readme_names_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    named = sorted(set(REPO_PATH.findall(text)))
    assert any(p.endswith(".wav") for p in named)  # the first command's example
    missing = [p for p in named if "<" not in p and "*" not in p
               and not (ROOT / p).exists()]
    assert not missing, f"README.md names files that do not exist: {missing}"
