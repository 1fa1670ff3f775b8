"""ONNX export and the ONNX Runtime backend: equal to PyTorch, chosen through predict, int8 within its bound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from mgd_sam2.cli import main
from mgd_sam2.data.io import read_mask
from mgd_sam2.data.layouts import resolve_split
from mgd_sam2.metrics.evaluate import evaluate_folders


@pytest.fixture(scope="module")
def exported(trained_checkpoint: Path, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    paths = {"onnx": folder / "micro.onnx", "int8": folder / "micro_int8.onnx"}
    argv = [
        "model",
        "export",
        "--ckpt",
        str(trained_checkpoint),
        "--onnx",
        str(paths["onnx"]),
        "--int8",
        str(paths["int8"]),
    ]
    assert main(argv) == 0
    return paths


def test_the_export_records_what_it_is(exported: dict[str, Path]) -> None:
    metadata = {prop.key: prop.value for prop in onnx.load(str(exported["onnx"])).metadata_props}
    assert metadata["format"] == "mgd-sam2 onnx v1" and metadata["input_size"] == "128" and metadata["grid"] == "2"
    assert (
        metadata["opset"] == "20" and metadata["quantization"] == "none" and '"preset": "micro"' in metadata["network"]
    )
    quantized = {prop.key: prop.value for prop in onnx.load(str(exported["int8"])).metadata_props}
    assert quantized["quantization"].startswith("int8") and quantized["input_size"] == "128"


def predict(ckpt: Path, images: Path, out: Path, *extra: str) -> None:
    assert (
        main(["predict", "--ckpt", str(ckpt), "--input", str(images), "--output", str(out), "--workers", "0", *extra])
        == 0
    )


def test_the_onnx_backend_writes_the_masks_pytorch_writes(
    exported: dict[str, Path], trained_checkpoint: Path, synthetic_root: Path, tmp_path: Path
) -> None:
    split = resolve_split(synthetic_root, "synthetic/SYN-TE")
    predict(trained_checkpoint, split.image_dir, tmp_path / "torch")
    predict(exported["onnx"], split.image_dir, tmp_path / "onnx")  # --backend auto: onnx for a .onnx file
    predict(exported["int8"], split.image_dir, tmp_path / "int8", "--backend", "onnx")
    for mask in sorted((tmp_path / "torch").glob("*.png")):
        fp32 = read_mask(tmp_path / "onnx" / mask.name).astype(int)
        assert np.abs(fp32 - read_mask(mask).astype(int)).max() <= 1, mask.name  # 8-bit maps: at most 1 level
    scores = {kind: evaluate_folders(tmp_path / kind, split.mask_dir, ["S"], workers=0, progress=False).scores
              for kind in ("torch", "int8")}  # fmt: skip
    assert abs(scores["int8"]["Smeasure"] - scores["torch"]["Smeasure"]) <= 0.005


def test_onnx_backend_mistakes_are_one_line_errors(exported: dict[str, Path], tmp_path: Path, capsys) -> None:
    images = tmp_path / "in"
    images.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(images / "a.png")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    for ckpt, extra, message in (
        (broken, (), "is not a readable ONNX model"),
        (exported["onnx"], ("--precision", "bf16-mixed"), "runs in fp32"),
    ):
        code = main(["predict", "--ckpt", str(ckpt), "--input", str(images), "--output", str(tmp_path / "o"), *extra])
        err = capsys.readouterr().err
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (ckpt, err)
