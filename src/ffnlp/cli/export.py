"""``ffnlp export``: a trained network as an ONNX file, for any ONNX runtime."""

from __future__ import annotations

import argparse
from typing import Any

from ffnlp.cli.common import Formatter, check_output, import_estimators


def add_export_commands(commands: Any) -> None:
    p = commands.add_parser(
        "export",
        help="write a trained classifier or neural LM as an ONNX model",
        description="Write a text classifier (classify train) or a feedforward LM (lm "
        "train) as an ONNX graph. The classifier takes ids int64 and mask bool (batch, "
        "length), the rows of each text padded, and gives logits and probabilities "
        "(batch, classes); the LM takes contexts int64 (batch, N) and gives log_probs "
        "(batch, vocabulary). The vocabulary, tokenizer and classes are in the file's "
        "metadata (ffnlp.*).",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="the model file")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="the file format")
    p.add_argument("--out", required=True, help="where to write the exported model")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    import_estimators()  # without scikit-learn's bases: see import_estimators
    from ffnlp.export import export_model  # onnx is imported only when it is needed

    out = check_output(args.out)
    print(export_model(args.model, out, args.format))
    return 0
