"""Put pip into a venv made without it (``python3 -m venv --without-pip``), for a Python whose
ensurepip is missing (Debian's python3 without the python3-venv package): the newest pip wheel
from the package index (PIP_INDEX_URL, else PyPI), its sha256 checked, installs itself.

Standard library only. Exit 0 with pip installed, else 1 and one line saying what to do."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

FIX = "install Debian's python3-venv (apt-get install python3-venv) and run make again"


def newest_pip(index: str) -> tuple[str, str]:
    """(url, sha256) of the newest pure-Python pip wheel the index lists."""
    page_url = index.rstrip("/") + "/pip/"
    read_url = page_url + "index.html" if page_url.startswith("file:") else page_url
    with urllib.request.urlopen(read_url, timeout=60) as r:  # (a file: index as pip reads one)
        page = r.read().decode("utf-8", "replace")
    best = None
    for href in re.findall(r'href="([^"]+)"', page):
        url = urllib.parse.urljoin(page_url, href.replace("&amp;", "&"))
        m = re.search(r"/pip-(\d+(?:\.\d+)*)-py3-none-any\.whl#sha256=([0-9a-f]{64})$", url)
        if m:
            version = tuple(int(p) for p in m.group(1).split("."))
            if best is None or version > best[0]:
                best = (version, url.split("#")[0], m.group(2))
    if best is None:
        raise OSError(f"no pip wheel with a sha256 listed at {page_url}")
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                            epilog="Run with the venv's python (make does).").parse_args(argv)
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    try:
        url, sha256 = newest_pip(index)
        with urllib.request.urlopen(url, timeout=120) as r:
            data = r.read()
    except OSError as e:
        print(f"bootstrap_pip: cannot fetch pip from {index} ({e}); {FIX}", file=sys.stderr)
        return 1
    if hashlib.sha256(data).hexdigest() != sha256:
        print(f"bootstrap_pip: {url}: sha256 does not match the index's; {FIX}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="deepbrain-pip-") as tmp:
        wheel = os.path.join(tmp, url.rsplit("/", 1)[1])
        with open(wheel, "wb") as f:
            f.write(data)
        # A pip wheel runs as pip: it installs itself.
        r = subprocess.run([sys.executable, os.path.join(wheel, "pip"), "install", "--quiet",
                            "--no-index", wheel])
    if r.returncode != 0:
        print(f"bootstrap_pip: installing {wheel} failed; {FIX}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
