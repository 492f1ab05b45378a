"""benchmarks/readme_reviews.py: the README's example files, from an MR folder the test
writes itself: 2,000 and 1,000 distinct reviews, read back as the README reads them."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import readme_reviews  # noqa: E402


def test_two_disjoint_files_of_mr_reviews_with_their_labels(tmp_path):
    mr = tmp_path / "data" / "mr"
    mr.mkdir(parents=True)
    for kind in ("pos", "neg"):  # cp1252, as MR is: an é that UTF-8 would not read
        lines = "".join(f"{kind} review number {i} , caf\xe9 \n" for i in range(1600))
        (mr / f"rt-polarity.{kind}").write_bytes(lines.encode("cp1252"))
    train, test = readme_reviews.write_reviews(tmp_path / "data", tmp_path / "out")
    read = [list(csv.DictReader(open(p, encoding="utf-8"))) for p in (train, test)]
    assert [len(rows) for rows in read] == [2000, 1000]
    assert list(read[0][0]) == ["id", "text", "label"]
    texts = [row["text"] for rows in read for row in rows]
    assert len(set(texts)) == 3000  # no review in both, none twice
    for rows in read:
        assert [row["id"] for row in rows] == [str(i) for i in range(len(rows))]
        for row in rows:
            assert row["text"].endswith("café")
            assert row["label"] == {"pos": "positive", "neg": "negative"}[row["text"][:3]]
    assert 900 < sum(row["label"] == "positive" for row in read[0]) < 1100  # shuffled
    again = readme_reviews.write_reviews(tmp_path / "data", tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in (train, test)]
