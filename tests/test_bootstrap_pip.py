"""scripts/bootstrap_pip.py: pip for a venv made without it (Debian's python3 without
python3-venv), from a package index, sha256 checked."""

import hashlib
import subprocess
import sys

from support import ROOT

SCRIPT = ROOT / "scripts" / "bootstrap_pip.py"


def index(tmp_path, wheels: dict[str, bytes], wrong_hash=False):
    (tmp_path / "simple" / "pip").mkdir(parents=True)
    links = []
    for name, data in wheels.items():
        (tmp_path / "simple" / "pip" / name).write_bytes(data)
        digest = hashlib.sha256(b"other" if wrong_hash else data).hexdigest()
        links.append(f'<a href="{name}#sha256={digest}">{name}</a>')
    (tmp_path / "simple" / "pip" / "index.html").write_text("\n".join(links))
    return (tmp_path / "simple").as_uri()


def run(url):
    return subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          env={"PIP_INDEX_URL": url, "PATH": "/usr/bin:/bin"})


def test_the_newest_wheel_is_chosen(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from bootstrap_pip import newest_pip
    finally:
        sys.path.pop(0)
    url = index(tmp_path, {"pip-9.0.1-py3-none-any.whl": b"a", "pip-23.0-py3-none-any.whl": b"b",
                           "pip-10.2-py3-none-any.whl": b"c", "pip-99.0.tar.gz": b"d"})
    got, sha = newest_pip(url)
    assert got.endswith("/pip-23.0-py3-none-any.whl")
    assert sha == hashlib.sha256(b"b").hexdigest()


def test_a_wheel_whose_hash_differs_is_not_run(tmp_path):
    r = run(index(tmp_path, {"pip-23.0-py3-none-any.whl": b"not a wheel"}, wrong_hash=True))
    assert r.returncode == 1 and "sha256 does not match" in r.stderr
    assert r.stderr.count("\n") == 1 and "python3-venv" in r.stderr


def test_no_index_says_what_to_do(tmp_path):
    r = run((tmp_path / "nowhere").as_uri())
    assert r.returncode == 1 and "cannot fetch pip" in r.stderr and "python3-venv" in r.stderr
    assert r.stderr.count("\n") == 1
