"""Classification metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ffnlp.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    containing_groups,
    stratified_kfold,
)


def test_report_on_a_worked_example():
    # The chapter's 3-class example shape: true urgent/normal/spam, predicted by a system.
    y_true = ["urgent"] * 10 + ["normal"] * 70 + ["spam"] * 120
    y_pred = (
        ["urgent"] * 8
        + ["normal"] * 1
        + ["spam"] * 1
        + ["urgent"] * 10
        + ["normal"] * 60
        + ["spam"] * 0
        + ["urgent"] * 3
        + ["normal"] * 30
        + ["spam"] * 87
    )
    y_pred = y_pred[:200]
    report = classification_report(y_true, y_pred, labels=["urgent", "normal", "spam"])
    c = report.confusion
    assert c.tolist() == [[8, 1, 1], [10, 60, 0], [3, 30, 87]]
    np.testing.assert_allclose(report.precision, [8 / 21, 60 / 91, 87 / 88])
    np.testing.assert_allclose(report.recall, [8 / 10, 60 / 70, 87 / 120])
    assert report.accuracy == pytest.approx((8 + 60 + 87) / 200)
    assert report.macro_precision == pytest.approx(np.mean([8 / 21, 60 / 91, 87 / 88]))
    text = str(report)
    assert "macro avg" in text and "confusion matrix" in text


def test_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 4, 300))
    report = classification_report(y_true.tolist(), y_pred.tolist())
    p, r, f, s = sklearn_metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(report.precision, p)
    np.testing.assert_allclose(report.recall, r)
    np.testing.assert_allclose(report.f1, f)
    np.testing.assert_array_equal(report.support, s)
    assert report.macro_f1 == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, average="macro")
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true.tolist(), y_pred.tolist()),
        sklearn_metrics.confusion_matrix(y_true, y_pred),
    )
    assert accuracy(y_true.tolist(), y_pred.tolist()) == pytest.approx(
        sklearn_metrics.accuracy_score(y_true, y_pred)
    )


def test_undefined_precision_is_zero():
    report = classification_report(["a", "a", "b"], ["a", "a", "a"])
    assert report.precision.tolist() == [2 / 3, 0.0] and report.f1[1] == 0.0


def test_stratified_folds_partition_and_balance():
    labels = ["pos"] * 53 + ["neg"] * 47 + ["odd"] * 7
    folds = list(stratified_kfold(labels, k=10, seed=1))
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))
    for train, test in folds:
        assert len(set(train) & set(test)) == 0
        counts = Counter(labels[i] for i in test)
        assert 5 <= counts["pos"] <= 6 and 4 <= counts["neg"] <= 5 and counts["odd"] <= 1
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 1
    again = [test.tolist() for _, test in stratified_kfold(labels, k=10, seed=1)]
    assert again == [test.tolist() for _, test in folds]


def test_metric_errors():
    with pytest.raises(ValueError, match="y_true has 2 labels but y_pred has 1"):
        accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="cannot evaluate on zero examples"):
        accuracy([], [])
    with pytest.raises(ValueError, match="folds must be an integer >= 2; got 1"):
        list(stratified_kfold(["a", "b"], k=1))
    with pytest.raises(ValueError, match="cannot make 5 folds from 3 examples"):
        list(stratified_kfold(["a", "b", "a"], k=5))


def test_containing_groups_put_each_text_with_the_longest_text_it_lies_inside():
    texts = ["a b c d", "B c", "x y", "a b c d", "c d e", "", "b c d e f", "d e"]
    groups = containing_groups(texts)
    # "B c" lies in "a b c d" (case ignored) but "b c d e f" is longer and holds it too: the
    # longest holder comes first; the copy of "a b c d" joins it; "c d e" lies in "b c d e f".
    assert groups.tolist() == [0, 6, 2, 0, 6, 5, 6, 6]
    assert containing_groups(["ab c", "b c"]).tolist() == [0, 1]  # whole words only


def test_grouped_folds_keep_each_group_in_one_fold_and_stratify_the_groups():
    labels = ["p", "n"] * 10 + ["p"] * 5
    groups = [*range(20), 0, 2, 4, 6, 8]  # five more members of groups 0..8
    folds = list(stratified_kfold(labels, 5, seed=1, groups=groups))
    for train, test in folds:
        for g in range(20):
            members = {i for i in range(25) if groups[i] == g}
            assert members <= set(test.tolist()) or members <= set(train.tolist())
        assert sum(labels[i] == "p" for i in test if i < 20) == 2  # each fold: 2 p, 2 n groups
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(25))
    assert [t.tolist() for _, t in stratified_kfold(labels, 5, seed=1, groups=range(25))] == [
        t.tolist() for _, t in stratified_kfold(labels, 5, seed=1)
    ]
    with pytest.raises(ValueError, match="3 groups of examples"):
        list(stratified_kfold(["p", "n", "p"], 4, groups=[0, 1, 2]))
