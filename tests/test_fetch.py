"""Dataset downloads, against an HTTP server on 127.0.0.1 serving files the tests write:
good files are verified and kept; a corrupted file or an interrupted transfer leaves
nothing in the cache. No test touches the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from ffnlp import fetch
from ffnlp.cli import main

GOOD = b"the cat sat on the mat\n" * 100
CORRUPTED = GOOD.replace(b"mat", b"hat", 1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ARCHIVE = _tar_gz({"pack/pos.txt": b"good\n", "pack/neg.txt": b"bad\n", "pack/junk": b"x"})


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[set[str]] = set()  # paths whose transfer stops halfway

    def do_GET(self):
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.path in self.cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {
        "/toy/good.txt": GOOD,
        "/toy/corrupted.txt": CORRUPTED,
        "/toy/cut.txt": GOOD,
        "/toy/pack.tar.gz": ARCHIVE,
    }
    _Handler.cut = {"/toy/cut.txt"}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _register(monkeypatch, *remotes, derived=()):
    spec = fetch.StandardDataset("toy", "a toy dataset", "none", tuple(remotes), tuple(derived))
    monkeypatch.setitem(fetch.DATASETS, "toy", spec)
    return spec


def _cache_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_good_file_is_verified_and_kept(server, tmp_path, monkeypatch):
    _register(
        monkeypatch, fetch.Remote("https://example.invalid/x/good.txt", _sha(GOOD), "good.txt")
    )
    folder = fetch.fetch("toy", tmp_path, mirror=server)
    assert (folder / "good.txt").read_bytes() == GOOD
    assert _cache_files(tmp_path) == ["toy/good.txt"]
    assert fetch.missing_files("toy", tmp_path) == []


def test_a_corrupted_file_is_refused_and_nothing_stays(server, tmp_path, monkeypatch):
    _register(
        monkeypatch, fetch.Remote("https://example.invalid/x/corrupted.txt", _sha(GOOD), "c.txt")
    )
    with pytest.raises(fetch.DownloadError, match=r"SHA-256 .* is not the expected"):
        fetch.fetch("toy", tmp_path, mirror=server)
    assert _cache_files(tmp_path) == []


def test_an_interrupted_transfer_leaves_nothing_half_written(server, tmp_path, monkeypatch):
    _register(monkeypatch, fetch.Remote("https://example.invalid/x/cut.txt", _sha(GOOD), "cut.txt"))
    with pytest.raises(fetch.DownloadError, match=r"cut short|failed"):
        fetch.fetch("toy", tmp_path, mirror=server)
    assert _cache_files(tmp_path) == []


def test_a_missing_file_on_the_server_is_a_clear_error(server, tmp_path, monkeypatch):
    _register(
        monkeypatch, fetch.Remote("https://example.invalid/x/absent.txt", _sha(GOOD), "a.txt")
    )
    with pytest.raises(fetch.DownloadError, match=r"absent.txt failed: Not Found"):
        fetch.fetch("toy", tmp_path, mirror=server)
    assert _cache_files(tmp_path) == []


def test_archives_keep_only_their_named_members_and_derived_files_are_made(
    server, tmp_path, monkeypatch
):
    members = {
        "pack/pos.txt": ("pos.txt", _sha(b"good\n")),
        "pack/neg.txt": ("sub/neg.txt", _sha(b"bad\n")),
    }
    upper = fetch.Derived("pos.txt", "POS.txt", _sha(b"GOOD\n"), bytes.upper)
    _register(
        monkeypatch,
        fetch.Remote("https://example.invalid/x/pack.tar.gz", _sha(ARCHIVE), members=members),
        derived=[upper],
    )
    messages = []
    fetch.fetch("toy", tmp_path, mirror=server, say=messages.append)
    assert _cache_files(tmp_path) == ["toy/POS.txt", "toy/pos.txt", "toy/sub/neg.txt"]
    # a second fetch finds everything present and downloads nothing
    _Handler.files = {}
    fetch.fetch("toy", tmp_path, mirror=server, say=messages.append)
    assert "already present" in messages[-2]


def test_an_archive_member_with_the_wrong_bytes_is_refused(server, tmp_path, monkeypatch):
    members = {"pack/pos.txt": ("pos.txt", _sha(b"something else\n"))}
    _register(
        monkeypatch,
        fetch.Remote("https://example.invalid/x/pack.tar.gz", _sha(ARCHIVE), members=members),
    )
    with pytest.raises(fetch.DownloadError, match=r"member pack/pos.txt: SHA-256"):
        fetch.fetch("toy", tmp_path, mirror=server)
    assert _cache_files(tmp_path) == []


def test_cache_dir_comes_from_the_flag_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FFNLP_DATA", str(tmp_path / "env"))
    assert fetch.cache_dir() == tmp_path / "env"
    assert fetch.cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("FFNLP_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.cache_dir() == tmp_path / "xdg" / "ffnlp"


def test_the_registry_covers_the_standard_datasets_with_full_hashes():
    assert set(fetch.DATASETS) == {"ptb", "mr", "sst2", "trec"}
    for spec in fetch.DATASETS.values():
        for remote in spec.remotes:
            assert remote.url.startswith("https://")
            hashes = [remote.sha256, *(h for _, h in remote.members.values())]
            assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)
    assert "ptb.train.txt" in fetch.DATASETS["ptb"].files()
    assert {"rt-polarity.pos", "rt-polarity.neg"} <= set(fetch.DATASETS["mr"].files())


def test_trec_labels_become_kim_numbers():
    raw = b"DESC:manner How did it go ?\nNUM:date When ?\n"
    assert fetch._trec_numeric(raw) == b"0 How did it go ?\n5 When ?\n"


def test_cli_data_list_and_fetch(server, tmp_path, monkeypatch, capsys):
    _register(
        monkeypatch, fetch.Remote("https://example.invalid/x/good.txt", _sha(GOOD), "good.txt")
    )
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "toy    missing" in out and "ptb    missing" in out
    assert main(["data", "fetch", "toy", "--cache-dir", str(tmp_path), "--mirror", server]) == 0
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    assert "toy    present" in capsys.readouterr().out


def test_cli_data_fetch_errors_are_one_line(server, tmp_path, monkeypatch, capsys):
    assert main(["data", "fetch", "nope", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'; known: ptb, mr, sst2, trec" in capsys.readouterr().err
    _register(
        monkeypatch, fetch.Remote("https://example.invalid/x/corrupted.txt", _sha(GOOD), "c.txt")
    )
    monkeypatch.setenv("FFNLP_MIRROR", server)
    assert main(["data", "fetch", "toy", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ffnlp data fetch: error:" in err and "Traceback" not in err
    assert _cache_files(tmp_path) == []


def test_cli_data_fetch_offline_leaves_no_folder_behind(tmp_path, monkeypatch, capsys):
    """No network (here: nothing listens at the mirror): the one-line error, and neither
    the cache folder nor the dataset's folder is left, empty, behind."""
    import socket

    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    _register(monkeypatch, fetch.Remote("https://example.invalid/x/good.txt", _sha(GOOD), "g.txt"))
    cache = tmp_path / "cache"
    argv = ["data", "fetch", "toy", "--cache-dir", str(cache)]
    assert main([*argv, "--mirror", f"http://127.0.0.1:{port}"]) == 2
    assert "ffnlp data fetch: error: downloading" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    (cache / "mine").mkdir(parents=True)  # a cache that was there stays, with what it held
    assert main([*argv, "--mirror", f"http://127.0.0.1:{port}"]) == 2
    assert [p.name for p in cache.iterdir()] == ["mine"]


def test_cli_data_list_says_where_it_looked_and_how_to_point_elsewhere(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("FFNLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"looked in {tmp_path / 'xdg' / 'ffnlp'} (the default; --cache-dir DIR or "
        "$FFNLP_DATA=DIR point elsewhere)"
    )
    assert lines[-1] == (
        "get the missing ones with: ffnlp data fetch ptb mr sst2 trec (or give the folder "
        "that has them with --cache-dir)"
    )
    (tmp_path / "data" / "ptb").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (tmp_path / "data" / "ptb" / f"ptb.{split}.txt").write_text("a b\n")
    monkeypatch.setenv("FFNLP_DATA", str(tmp_path / "data"))
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"looked in {tmp_path / 'data'} ($FFNLP_DATA)"
    assert lines[1].startswith("ptb    present")
    assert main(["data", "list", "--data-dir", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.startswith(f"looked in {tmp_path / 'data'} (--cache-dir)")
