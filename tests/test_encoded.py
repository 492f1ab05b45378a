"""Corpora larger than memory: ffnlp data encode, windows gathered from the memory map."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.text import StreamWindows, Tokenizer, Vocab, context_windows, encoded, load_corpus
from ffnlp.text.batching import strided_minibatches
from ffnlp.train import TrainConfig, fit

LINES = [
    "the stock market fell sharply today",
    "the company said it expects higher profits",
    "a",
    "",
    "the stock rose after the company said it would buy back shares",
]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("\n".join(LINES * 3) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["stream", "sentence"])
@pytest.mark.parametrize("context_size", [1, 3, 9])
def test_windows_from_the_stream_equal_the_in_memory_windows(
    corpus, tmp_path, layout, context_size
):
    data = encoded.encode_corpus(corpus, tmp_path / "enc")
    sentences = load_corpus(corpus)
    assert data.vocab == Vocab.build(sentences)
    x, y = context_windows([data.vocab.encode(s) for s in sentences], context_size, layout)
    windows = StreamWindows(data.ids, context_size, layout)
    got_x, got_y = windows.batch(np.arange(len(windows)))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    order = np.random.default_rng(0).permutation(len(windows))[:7]
    np.testing.assert_array_equal(windows.batch(order)[0], x[order])


def test_ids_are_uint16_for_small_vocabularies_and_memory_mapped(corpus, tmp_path):
    data = encoded.encode_corpus(corpus, tmp_path / "enc", Tokenizer(lowercase=True), min_count=2)
    assert data.ids.dtype == np.uint16 and isinstance(data.ids, np.memmap)
    assert data.meta["min_count"] == 2 and data.meta["lowercase"] is True
    assert len(data.ids) == data.meta["tokens"] + data.meta["sentences"]
    assert data.ids[-1] == Vocab.eos_id


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1009, 4096])
def test_strided_batches_visit_every_example_once(n):
    rng = np.random.default_rng(n)
    seen = np.concatenate(list(strided_minibatches(n, 64, rng)))
    assert sorted(seen.tolist()) == list(range(n))
    again = np.concatenate(list(strided_minibatches(n, 64, rng)))
    assert n < 3 or not np.array_equal(seen, again)  # a new order every epoch


def test_cli_encode_then_train_from_the_folder(corpus, tmp_path, capsys):
    folder = tmp_path / "enc"
    assert main(["data", "encode", str(corpus), "--out", str(folder)]) == 0
    assert "uint16" in capsys.readouterr().out
    out = tmp_path / "lm.npz"
    argv = ["lm", "train", str(folder), "--valid", str(corpus), "--out", str(out)]
    argv += ["--context-size", "2", "--embed-dim", "8", "--hidden", "8", "--epochs", "2"]
    assert main([*argv, "--no-progress"]) == 0
    from ffnlp.models.language_model import FeedforwardLM

    assert FeedforwardLM.load(out).vocab == encoded.open_encoded(folder).vocab
    assert main([*argv, "--min-count", "2"]) == 2
    assert "was encoded with --min-count 1" in capsys.readouterr().err


def test_encode_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait\n")
    assert main(["data", "encode", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "e")]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["lm", "train", str(tmp_path / "empty"), "--out", str(tmp_path / "m.npz")]) == 2
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "vocab.json").write_text("{}")
    assert main(["lm", "train", str(tmp_path / "half"), "--out", str(tmp_path / "m.npz")]) == 2
    assert "not a complete encoded corpus" in capsys.readouterr().err


def test_fit_on_stream_windows_with_max_steps(corpus, tmp_path):
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig

    data = encoded.encode_corpus(corpus, tmp_path / "enc")
    config = FeedforwardLMConfig(len(data.vocab), context_size=2, embed_dim=4, hidden_dims=(4,))
    model = FeedforwardLM(config, rng=0)
    history = fit(
        model,
        StreamWindows(data.ids, 2),
        config=TrainConfig(batch_size=4, max_steps=5, progress=False),
    )
    assert history.epochs[-1]["step"] == 5 and len(history.epochs) == 1


def _write_big_corpus(folder, num_ids, vocab_size, seed=0):
    """An encoded corpus of random ids, written in chunks (never whole in memory)."""
    folder.mkdir()
    vocab = Vocab(["<unk>", "<s>", "</s>", *(f"w{i}" for i in range(vocab_size - 3))])
    ids = np.lib.format.open_memmap(folder / encoded.IDS_FILE, "w+", np.uint16, (num_ids,))
    rng = np.random.default_rng(seed)
    for start in range(0, num_ids, 1 << 22):
        stop = min(start + (1 << 22), num_ids)
        ids[start:stop] = rng.integers(2, vocab_size, stop - start, dtype=np.uint16)
    ids.flush()
    del ids
    meta = {"format": encoded.FORMAT, "source": "generated", "tokenizer": "whitespace"}
    meta |= {"lowercase": False, "min_count": 1, "max_vocab": None, "dtype": "uint16"}
    meta |= {"sentences": 0, "tokens": num_ids, "vocab": vocab.to_dict()}
    (folder / encoded.META_FILE).write_text(json.dumps(meta))


@pytest.mark.slow
def test_training_on_a_corpus_several_times_larger_than_a_memory_cap(tmp_path):
    # The cap limits the process's private memory (RLIMIT_DATA: heap and anonymous maps,
    # not read-only file maps) to what it uses after start-up plus 32 MiB; the corpus's ids
    # take 160 MiB, and its windows in memory would take 40 bytes a token, 3.2 GiB.
    headroom, num_ids = 32 << 20, 80_000_000
    folder = tmp_path / "big"
    _write_big_corpus(folder, num_ids, vocab_size=500)
    assert (folder / encoded.IDS_FILE).stat().st_size > 4 * headroom
    script = textwrap.dedent(
        f"""
        import resource, sys
        import numpy as np
        from ffnlp.cli import main
        np.ones((512, 512)) @ np.ones((512, 512))  # the BLAS allocates its buffers first
        def private_bytes():
            for line in open("/proc/self/status"):
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
        cap = private_bytes() + {headroom}
        resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.RLIM_INFINITY))
        try:
            np.zeros({num_ids}, dtype=np.uint16) + 1  # the corpus itself does not fit
        except MemoryError:
            print("the corpus does not fit under the cap")
        code = main(["lm", "train", {str(folder)!r}, "--out", {str(tmp_path / "lm.npz")!r},
                     "--context-size", "4", "--embed-dim", "16", "--hidden", "32",
                     "--batch-size", "128", "--max-steps", "40", "--no-progress"])
        print("peak private memory within the cap:", private_bytes() <= cap)
        sys.exit(code)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the corpus does not fit under the cap" in result.stdout
    assert "within the cap: True" in result.stdout
    assert (tmp_path / "lm.npz").exists()


def test_cli_trains_fofe_from_the_folder_on_windows_of_k_ids(corpus, tmp_path, capsys):
    folder = tmp_path / "enc"
    assert main(["data", "encode", str(corpus), "--out", str(folder)]) == 0
    out = tmp_path / "lm.npz"
    argv = ["lm", "train", str(folder), "--valid", str(corpus), "--out", str(out), "--no-progress"]
    argv += ["--context-size", "2", "--embed-dim", "8", "--hidden", "8", "--epochs", "1"]
    assert main([*argv, "--fofe", "0.6", "--fofe-window", "5", "--max-steps", "3"]) == 0
    from ffnlp.models.language_model import FeedforwardLM

    lm = FeedforwardLM.load(out)
    assert lm.config.window_size == 5 and np.isfinite(lm.perplexity(lm.encode_lines(["a b"])))
