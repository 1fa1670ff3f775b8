"""ONNX export and the backends that run it (ONNX Runtime, OpenVINO): equal to PyTorch, chosen through predict, int8
and bf16 within their bounds (tests/bounds.py), measured on a model that fits its images (``overfit_run``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image

from bounds import FP32_KERNELS, MAP_LEVELS_FP32, QUANTIZED_MAP_MEAN, QUANTIZED_SMEASURE
from conftest import OverfitRun
from mgd_sam2.cli import main
from mgd_sam2.data.io import PROVENANCE_KEY, list_images, read_mask
from mgd_sam2.data.layouts import resolve_split
from mgd_sam2.inference.backends import openvino_weights_problem, recorded_precision
from mgd_sam2.inference.export import (
    OPENVINO_INT8,
    STACK_TRACE_KEY,
    Int8Scope,
    int8_scope,
    node_modules,
    openvino_part,
    quantized_in,
    trunk_stages,
)
from mgd_sam2.inference.export_formats import RECORD_KIND, RECORD_PRECISION
from mgd_sam2.inference.fastest import FASTEST, fastest_record
from mgd_sam2.metrics.evaluate import evaluate_folders
from mgd_sam2.models.groups import part_of


@pytest.fixture(scope="module")
def exported(overfit_run: OverfitRun, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    paths = {"onnx": folder / "micro.onnx", "int8": folder / "micro_int8.onnx", "openvino_int8": folder / "ov.xml"}
    argv = [
        "model",
        "export",
        "--ckpt",
        str(overfit_run.checkpoint),
        "--onnx",
        str(paths["onnx"]),
        "--int8",
        str(paths["int8"]),
        "--openvino-int8",
        str(paths["openvino_int8"]),
        "--calibration",
        str(resolve_split(overfit_run.root, "synthetic/SYN-TR").image_dir),
    ]
    with open(folder / "export.log", "w") as log, contextlib.redirect_stdout(log):
        assert main(argv) == 0
    paths["log"] = folder / "export.log"
    paths["calibration"] = resolve_split(overfit_run.root, "synthetic/SYN-TR").image_dir
    return paths


def test_exports_name_no_folder_of_the_machine_that_wrote_them(exported: dict[str, Path]) -> None:
    """torch's exporter writes each node's Python traceback, with the paths of the exporting machine's sources (its
    user name among them), into the ONNX file; the exports keep the nodes' names but no such path."""
    import mgd_sam2

    folders = [str(Path(mgd_sam2.__file__).parent).encode(), f"{sys.prefix}/lib".encode()]  # ours, the environment's
    xml = exported["openvino_int8"]
    files = [exported["onnx"], exported["int8"], xml, xml.with_suffix(".bin")]
    assert not [(path.name, folder) for path in files for folder in folders if folder in path.read_bytes()]
    nodes = onnx.load(str(exported["onnx"])).graph.node
    assert not any(prop.key == STACK_TRACE_KEY for node in nodes for prop in node.metadata_props)
    assert any(prop.key == "pkg.torch.onnx.name_scopes" for prop in nodes[0].metadata_props)  # kept: the int8 scope


def test_every_exported_file_is_checked_through_the_segmenter_as_predict_runs_it(exported: dict[str, Path]) -> None:
    """Each file's line gives its mask's distance from PyTorch's, both predicted through Segmenter (views, backend,
    resizing, 8-bit map): the fp32 export within MAP_LEVELS_FP32 (its logits are FP32_KERNELS apart), the
    OpenVINO int8 mask (of the folder's last image, held out of the calibration; the fitted model knows it) within
    QUANTIZED_MAP_MEAN."""
    lines = {
        path.name: line
        for line in exported["log"].read_text().splitlines()
        if line.startswith("wrote ")
        for path in (exported["onnx"], exported["int8"], exported["openvino_int8"])
        if f" {path} " in line
    }
    found = re.compile(r"its mask ([0-9.]+) grey levels from PyTorch's on average \(largest ([0-9]+)\)")
    distances = {name: found.search(line) for name, line in lines.items()}
    assert set(distances) == {"micro.onnx", "micro_int8.onnx", "ov.xml"} and all(distances.values()), lines
    assert int(distances["micro.onnx"].group(2)) <= MAP_LEVELS_FP32
    assert float(distances["ov.xml"].group(1)) <= QUANTIZED_MAP_MEAN  # ONNX Runtime int8's: on noise, only shown
    held_out = list_images(exported["calibration"])[-1].name  # SYN-TR holds fewer than the 16 asked for
    assert f"(on {held_out}, held out of the calibration, in fp32 as predict runs it on this CPU)" in lines["ov.xml"]
    assert (
        f"predict with: mgd-sam2 predict --ckpt {exported['openvino_int8']} --input IMAGES --output MASKS (in "
        "32-true; add --precision bf16-mixed on a CPU with native bf16 kernels)"
    ) in exported["log"].read_text()
    peaks = [re.search(r"; the step's peak host memory ([0-9.]+) GiB$", line) for line in lines.values()]
    assert all(peak and 0.05 < float(peak.group(1)) < 16 for peak in peaks), lines  # its own process's VmHWM


def test_the_int8_model_is_checked_on_an_image_it_was_not_calibrated_on(
    overfit_run: OverfitRun, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The image after the --calibration-images ones is held out: the export says so, its line gives the int8
    mask's distance from PyTorch's there, and it warns where that passes BOUND_MASK_LEVELS. On an image it was
    calibrated on, a model calibrated on few images looks closer than it is (a try-out's, calibrated on one photo:
    0.12 grey levels there, 8.43 on average on five others)."""
    from mgd_sam2.inference import export_steps

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(export_steps, "BOUND_MASK_LEVELS", -1.0)  # any distance warns
    folder = resolve_split(overfit_run.root, "synthetic/SYN-TR").image_dir
    held_out = list_images(folder)[1]
    xml = tmp_path / "m.xml"
    argv = ["model", "export", "--ckpt", str(overfit_run.checkpoint), "--onnx", str(tmp_path / "m.onnx"),
            "--openvino-int8", str(xml), "--calibration", str(folder), "--calibration-images", "1"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"calibrating OpenVINO int8 on 1 image of {folder}, then checking it on {held_out.name}, held out\n" in out
    assert "(OpenVINO NNCF, static, 1 calibration images;" in xml.read_text()
    line = next(line for line in out.splitlines() if line.startswith(f"wrote {xml} "))
    mean = re.search(r"its mask ([0-9.]+) grey levels from PyTorch's on average \(largest [0-9]+\) \(on (.+?),", line)
    assert mean and mean.group(2) == held_out.name, line
    assert (
        f"warning: on {held_out.name}, which it was not calibrated on, the int8 model's mask is {mean.group(1)} grey "
        "levels from PyTorch's on average, past the -1.0 within which" in out
    )
    assert f"or predict with {tmp_path / 'm.onnx'}\n" in out


def test_the_int8_steps_take_the_held_out_images_logits_and_mask(tmp_path: Path, monkeypatch) -> None:
    """export_steps hands the quantization the calibration images' views to calibrate on, and the held-out image,
    its views and PyTorch's logits and mask of it (from the export's step) to check the int8 model on; a held-out
    image among the calibration ones is refused."""
    import torch

    from mgd_sam2.inference import export, export_steps

    images = []
    for index in range(3):
        images.append(tmp_path / f"{index}.png")
        Image.fromarray(np.full((40, 50, 3), 60 * index, np.uint8)).save(images[-1])
    held_out_mask, held_out_logits = np.full((40, 50), 7, np.uint8), np.ones((1, 1, 64, 64), np.float32)
    exported = export_steps.Exported({}, 64, 2, np.zeros(1), held_out_logits, np.zeros(1), held_out_mask)
    calls = []

    def in_process(function, *args):  # run_isolated's place: record, and answer as each step would
        calls.append((function, args))
        return exported if function is export_steps.export_network else {}

    monkeypatch.setattr(export_steps, "run_isolated", in_process)
    steps = export_steps.export_steps(None, tmp_path / "m.onnx", None, tmp_path / "m.xml", images[:2], images[2])
    assert len(list(steps)) == 2
    (step, arguments), (check, (quantize, image, mask, _, _, views, check_views, logits, _)) = calls
    assert step is export_steps.export_network and arguments[2] == images[2]
    assert check is export_steps.quantize_checked and quantize is export.quantize_openvino
    assert image == images[2] and mask is held_out_mask and logits is held_out_logits
    assert [record.image for record in views.dataset.records] == images[:2]
    expected = export.CalibrationViews(images[2:], 64, 2)[0]
    assert all(torch.equal(getattr(check_views[0], name), getattr(expected, name)) for name in export.ONNX_INPUTS)
    with pytest.raises(ValueError, match="a held-out image not among them"):
        list(export_steps.export_steps(None, tmp_path / "m.onnx", None, tmp_path / "m.xml", images, images[2]))


def test_the_export_records_what_it_is(exported: dict[str, Path]) -> None:
    metadata = {prop.key: prop.value for prop in onnx.load(str(exported["onnx"])).metadata_props}
    assert metadata["format"] == "mgd-sam2 onnx v1" and metadata["input_size"] == "64" and metadata["grid"] == "2"
    assert (
        metadata["opset"] == "20" and metadata["quantization"] == "none" and '"preset": "micro"' in metadata["network"]
    )
    quantized = {prop.key: prop.value for prop in onnx.load(str(exported["int8"])).metadata_props}
    assert quantized["quantization"].startswith("int8") and quantized["input_size"] == "64"


def test_the_onnx_int8_weights_take_7_bits(exported: dict[str, Path]) -> None:
    """Unsigned 8-bit activations times weights in -64..64: a pair of products stays within 16 bits, so CPUs
    without VNNI, which add pairs in 16 bits, compute the same sums as those with it (export.int8_weights)."""
    model = onnx.load(str(exported["int8"]))
    int8 = [
        numpy_helper.to_array(tensor) for tensor in model.graph.initializer if tensor.data_type == onnx.TensorProto.INT8
    ]
    largest = max(int(np.abs(weight.astype(np.int32)).max()) for weight in int8 if weight.size)
    assert largest == 64 and 255 * largest * 2 <= np.iinfo(np.int16).max  # the 7-bit range, used to its end


def shaped_graph(path: Path) -> tuple[onnx.ModelProto, dict[str, int], set[str]]:
    """The ONNX graph at ``path`` with inferred shapes, the rank of each inner value, and its initializers' names."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    ranks = {value.name: len(value.type.tensor_type.shape.dim) for value in model.graph.value_info}
    return model, ranks, {tensor.name for tensor in model.graph.initializer}


def test_the_trunk_attention_is_exported_without_a_split_and_in_4d(exported: dict[str, Path]) -> None:
    """inference/export_hiera.py: in each trunk attention, q, k and v come from three products, with no slice
    of a shared one, and the attention stays 4-D (sam2's SDPA is exported at opset 20 with k reshaped to 3-D): only
    the products' inputs are 3-D (the token products); the trunk has no max pool and no permute between
    channels-first and channels-last (patch embedding, q pooling)."""
    model, ranks, weights = shaped_graph(exported["onnx"])
    product_inputs = {
        node.input[0] for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights
    }
    blocks: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        scopes = {prop.key: prop.value for prop in node.metadata_props}.get("pkg.torch.onnx.name_scopes", "")
        pooling = re.search(r"[.']pool'", scopes)  # ChannelsLastMaxPool, in the block or its attention
        if "trunk" in scopes:
            assert node.op_type != "MaxPool", scopes
            perm = [list(attribute.ints) for attribute in node.attribute if attribute.name == "perm"]
            channels_moved = perm in ([[0, 3, 1, 2]], [[0, 2, 3, 1]]) and ranks.get(node.output[0]) == 4
            assert not channels_moved or (".attn'" in scopes and not pooling), scopes  # only k's, for q kᵀ
        block = re.search(r"trunk\.blocks\.(\d+)\.attn'", scopes)
        if block and not pooling:
            blocks.setdefault(block.group(1), []).append(node)
    assert len(blocks) >= 2
    for nodes in blocks.values():
        kinds = [node.op_type for node in nodes]
        assert not {"Slice", "Split", "Squeeze", "Gather"} & set(kinds), kinds
        assert kinds.count("MatMul") == 6 and kinds.count("Softmax") == 1, kinds  # q, k, v, q kᵀ, · v, projection
        perms = [list(attribute.ints) for node in nodes for attribute in node.attribute if attribute.name == "perm"]
        assert perms.count([0, 2, 3, 1]) == 1 and [0, 3, 1, 2] not in perms, perms  # k's for q kᵀ; no NCHW pooling
        for node in nodes:
            if node.op_type in ("Reshape", "Transpose"):
                assert ranks[node.output[0]] == 4 or node.output[0] in product_inputs, kinds
        attention = [node for node in nodes if node.op_type == "MatMul" and node.input[1] not in weights]
        assert len(attention) == 2 and all(ranks[node.output[0]] == 4 for node in attention), kinds  # q kᵀ, · v


def test_the_trunk_and_adapter_products_take_3d_tokens(exported: dict[str, Path]) -> None:
    """inference/export_hiera.py, token products: every product with a weight in the trunk and its MPAdapters
    (attention, projections, MLPs, adapters' down and up) takes [B, HW, C], the rank OpenVINO's CPU plugin fuses
    int8's dequantization, the bias and GELU into; the 4-D [B, H, W, C] tokens go in nowhere."""
    model, ranks, weights = shaped_graph(exported["onnx"])
    modules = node_modules(exported["onnx"])
    products = [node for node in model.graph.node if node.op_type in ("MatMul", "Gemm") and node.input[1] in weights]
    tokens = [node for node in products if re.match(r"encoder\.(trunk\.blocks|adapters)\.", modules.get(node.name, ""))]
    assert len(tokens) >= 6 * 2 and {part_of(modules[node.name]) for node in tokens} == {"Hiera trunk", "MPAdapter"}
    assert all(ranks[node.input[0]] == 3 for node in tokens), [(modules[n.name], ranks[n.input[0]]) for n in tokens]


def close_maps(folder: Path, reference: Path) -> None:
    """Every 8-bit map in ``folder`` within MAP_LEVELS_FP32 of the one in ``reference`` (fp32 in both)."""
    for mask in sorted(reference.glob("*.png")):
        difference = np.abs(read_mask(folder / mask.name).astype(int) - read_mask(mask).astype(int))
        assert difference.max() <= MAP_LEVELS_FP32, mask.name


def assert_within_quantized_bounds(folder: Path, reference: Path, gt: Path) -> None:
    """int8 or bf16 maps in ``folder`` against the fp32 maps in ``reference``: S-measure and mean map distance."""
    scores = [evaluate_folders(f, gt, ["S"], workers=0, progress=False).scores["Smeasure"] for f in (folder, reference)]
    assert abs(scores[0] - scores[1]) <= QUANTIZED_SMEASURE, scores
    for mask in sorted(reference.glob("*.png")):
        difference = np.abs(read_mask(folder / mask.name).astype(int) - read_mask(mask).astype(int))
        assert difference.mean() <= QUANTIZED_MAP_MEAN, mask.name


def predict(ckpt: Path, images: Path, out: Path, *extra: str) -> None:
    assert (
        main(["predict", "--ckpt", str(ckpt), "--input", str(images), "--output", str(out), "--workers", "0", *extra])
        == 0
    )


def test_the_onnx_backend_writes_the_masks_pytorch_writes(
    exported: dict[str, Path], overfit_run: OverfitRun, tmp_path: Path
) -> None:
    split = resolve_split(overfit_run.root, "synthetic/SYN-TR")
    predict(overfit_run.checkpoint, split.image_dir, tmp_path / "torch")
    predict(exported["onnx"], split.image_dir, tmp_path / "onnx")  # --backend auto: onnx for a .onnx file
    predict(exported["int8"], split.image_dir, tmp_path / "int8", "--backend", "onnx")
    close_maps(tmp_path / "onnx", tmp_path / "torch")
    assert_within_quantized_bounds(tmp_path / "int8", tmp_path / "torch", split.mask_dir)


def test_onnx_backend_mistakes_are_one_line_errors(exported: dict[str, Path], tmp_path: Path, capsys) -> None:
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(images / "a.png")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    incomplete = tmp_path / "incomplete.onnx"  # our format, but its settings lost
    model = onnx.load(str(exported["onnx"]))
    kept = [prop for prop in model.metadata_props if prop.key == "format"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(incomplete))
    renamed = tmp_path / "best.xml"  # a checkpoint renamed
    renamed.write_bytes(b"PK\x03\x04 a zip archive")
    html = tmp_path / "page.xml"
    html.write_text("<html><body>a downloaded page</body></html>")
    unknown = tmp_path / "unknown.xml"  # an encoding Python does not know: ElementTree raises LookupError
    unknown.write_text('<?xml version="1.0" encoding="bogus-9"?>\n<net></net>\n')
    for ckpt, extra, message in (
        (broken, (), "is not a readable ONNX model"),
        (broken, ("--backend", "openvino"), "is not a readable ONNX model"),
        (tmp_path / "missing.onnx", ("--backend", "openvino"), "ONNX file not found"),
        (exported["onnx"], ("--precision", "bf16-mixed"), "runs in fp32"),
        (exported["onnx"], ("--backend", "openvino", "--device", "cuda"), "runs on the CPU"),
        (images / "a.png", ("--backend", "openvino"), "runs a .onnx file"),
        (exported["onnx"], ("--weights", str(broken)), "holds every weight; --weights goes with a SAM2.1"),
        (images / "a.png", ("--backend", "onnx", "--weights", str(broken)), "runs a .onnx file"),
        (incomplete, (), "metadata is incomplete"),
        (incomplete, ("--backend", "openvino"), "metadata is incomplete"),
        (renamed, (), f"{renamed} is not OpenVINO IR (not an XML file): give the .xml"),  # before OpenVINO's readers
        (html, (), "is not OpenVINO IR (an XML file whose root is <html>, not OpenVINO's <net>)"),
        (unknown, (), f"{unknown} is not OpenVINO IR (not an XML file)"),
    ):
        code = main(["predict", "--ckpt", str(ckpt), "--input", str(images), "--output", str(tmp_path / "o"), *extra])
        err = capsys.readouterr().err
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (ckpt, err)
    assert recorded_precision(unknown) is None and openvino_weights_problem(unknown) is not None  # no .bin: said


def test_a_runtime_error_is_said_by_its_first_line_that_says_something() -> None:
    from mgd_sam2.inference.backends import runtime_reason

    error = RuntimeError("Exception from src/inference/src/cpp/core.cpp:117:\n\nCannot create folder /ro/cache\n")
    assert runtime_reason(error) == "Cannot create folder /ro/cache"
    assert runtime_reason(RuntimeError("Exception from src/a.cpp:1:")) == "Exception from src/a.cpp:1:"
    assert runtime_reason(RuntimeError()) == "RuntimeError"
    shape = RuntimeError(  # as OpenVINO 2025's infer says a tensor of another shape (its own source lines first)
        "Exception from src/inference/src/cpp/infer_request.cpp:117:\nException from "
        "src/inference/src/cpp/infer_request.cpp:67:\nCheck 'shape.compatible(ov::PartialShape(tensor->get_shape()))'"
        " failed at src/plugins/intel_cpu/src/infer_request.cpp:385:\nCan't set the input tensor with index: 0, "
        "because the model input (shape=[1,3,8,8]) and the tensor (shape=(1.3.4.4)) are incompatible\n\n\n"
    )
    assert runtime_reason(shape).startswith("Can't set the input tensor with index: 0, because the model input")


def test_the_openvino_backend_writes_the_masks_pytorch_writes(
    exported: dict[str, Path], overfit_run: OverfitRun, tmp_path: Path, monkeypatch, capsys
) -> None:
    from mgd_sam2.inference.backends import openvino_has_bf16

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    split = resolve_split(overfit_run.root, "synthetic/SYN-TR")
    predict(overfit_run.checkpoint, split.image_dir, tmp_path / "torch")
    predict(exported["onnx"], split.image_dir, tmp_path / "fp32", "--backend", "openvino")
    close_maps(tmp_path / "fp32", tmp_path / "torch")
    assert any((tmp_path / "cache" / "openvino" / "f32").iterdir())  # the compiled model is cached
    argv = ["predict", "--ckpt", str(exported["onnx"]), "--input", str(split.image_dir), "--output",
            str(tmp_path / "bf16"), "--workers", "0", "--backend", "openvino", "--precision", "bf16-mixed"]  # fmt: skip
    if not openvino_has_bf16():  # this CPU has no native bf16: refused, not silently fp32
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "OpenVINO reports no native bf16 kernels" in err and len(err.strip().splitlines()) == 1, err
        return
    assert main(argv) == 0
    provenance = json.loads(Image.open(next((tmp_path / "bf16").glob("*.png"))).info[PROVENANCE_KEY])
    assert (provenance["backend"], provenance["precision"]) == ("openvino", "bf16-mixed")
    assert_within_quantized_bounds(tmp_path / "bf16", tmp_path / "torch", split.mask_dir)


def test_detail_modes_run_through_the_exports(
    exported: dict[str, Path], overfit_run: OverfitRun, tmp_path: Path, monkeypatch
) -> None:
    """prediction.md: the detail modes work with the ONNX and OpenVINO exports, their parts fed at the export's input
    size (tiles here; crop's one part runs the same code, and guided runs none). Their masks are PyTorch's within a
    quantized path's bounds, not fp32's: the parts a mode runs follow thresholds of the plain logits, which fp32
    rounding can move across at single pixels."""
    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    split = resolve_split(overfit_run.root, "synthetic/SYN-TR")
    images, gts = tmp_path / "large", tmp_path / "gt"  # the fitted 64 px images at 200 x 150: larger than the input
    images.mkdir(), gts.mkdir()
    for path in sorted(split.image_dir.glob("*.jpg")):
        Image.open(path).convert("RGB").resize((200, 150), Image.BILINEAR).save(images / f"{path.stem}.png")
        Image.open(split.mask_dir / f"{path.stem}.png").resize((200, 150), Image.NEAREST).save(gts / f"{path.stem}.png")
    predict(overfit_run.checkpoint, images, tmp_path / "plain")
    predict(overfit_run.checkpoint, images, tmp_path / "torch", "--detail", "tiles")
    assert any(not np.array_equal(read_mask(mask), read_mask(tmp_path / "plain" / mask.name))
               for mask in (tmp_path / "torch").glob("*.png"))  # fmt: skip
    for backend in ("onnx", "openvino"):
        predict(exported["onnx"], images, tmp_path / backend, "--backend", backend, "--detail", "tiles")
        recorded = json.loads(Image.open(next((tmp_path / backend).glob("*.png"))).info[PROVENANCE_KEY])
        assert (recorded["backend"], recorded["detail"]["mode"]) == (backend, "tiles")
        assert_within_quantized_bounds(tmp_path / backend, tmp_path / "torch", gts)


def test_openvino_int8_writes_the_masks_pytorch_writes_within_its_bound(
    exported: dict[str, Path], overfit_run: OverfitRun, tmp_path: Path, monkeypatch
) -> None:
    import openvino as ov

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    xml = exported["openvino_int8"]
    assert xml.with_suffix(".bin").is_file()
    model = ov.Core().read_model(str(xml))
    assert model.get_rt_info(["framework", "quantization"]).astype(str).startswith("int8 (OpenVINO NNCF")
    assert_int8_scope(xml, exported["onnx"], OPENVINO_INT8)  # no path recorded: the default scope
    split = resolve_split(overfit_run.root, "synthetic/SYN-TR")
    predict(overfit_run.checkpoint, split.image_dir, tmp_path / "torch")
    predict(xml, split.image_dir, tmp_path / "int8")  # --backend auto: openvino for an OpenVINO .xml
    provenance = json.loads(Image.open(next((tmp_path / "int8").glob("*.png"))).info[PROVENANCE_KEY])
    assert (provenance["backend"], provenance["precision"]) == ("openvino", "32-true")
    files = (xml, xml.with_suffix(".bin"))  # the graph and its weights
    assert provenance["weights"] == [f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}" for path in files]
    assert_within_quantized_bounds(tmp_path / "int8", tmp_path / "torch", split.mask_dir)


def assert_int8_scope(xml: Path, onnx: Path, scope: Int8Scope) -> None:
    """The OpenVINO int8 model ``xml`` quantizes the inputs of nodes in ``scope`` and nowhere else: of every part
    of ``scope.parts``, and of no early MLP the scope leaves in bf16."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    modules = node_modules(onnx)
    stages = trunk_stages(model)
    quantizers = [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
    fed = {openvino_part(target.get_node().get_friendly_name(), modules)
           for op in quantizers for output in op.outputs() for target in output.get_target_inputs()}  # fmt: skip
    assert quantizers and all(quantized_in(scope, module, stages) for module in fed), fed
    assert {part_of(module) for module in fed} == set(scope.parts)
    assert scope.describe() in model.get_rt_info(["framework", "quantization"]).astype(str)


def test_the_amx_int8_scope_leaves_the_adapters_and_early_mlps_in_bf16() -> None:
    amx = int8_scope({RECORD_KIND: "amx", RECORD_PRECISION: "bf16-mixed"})
    default = int8_scope({RECORD_KIND: "avx512_bf16", RECORD_PRECISION: "bf16-mixed"})
    stages = (2, 3, 16, 3)  # base_plus: the first two stages are blocks 0 to 4
    for module, in_amx, in_default in [
        ("encoder.trunk.blocks.4.mlp.layers.0", False, True),
        ("encoder.trunk.blocks.4.mlp.act", False, True),
        ("encoder.trunk.blocks.1.mlp", False, True),
        ("encoder.trunk.blocks.5.mlp.layers.1", True, True),
        ("encoder.trunk.blocks.12.mlp.layers.0", True, True),
        ("encoder.trunk.blocks.0.attn", True, True),
        ("encoder.adapters.3.down", False, True),
        ("decoder.hmim_s4", False, False),
        (None, False, False),  # the network's glue
    ]:
        assert quantized_in(amx, module, stages) == in_amx and quantized_in(default, module, stages) == in_default
    assert default == OPENVINO_INT8 == int8_scope(None) == int8_scope({RECORD_KIND: "amx", RECORD_PRECISION: "32-true"})


# one CPU kind for each path chosen, and for each OpenVINO int8 scope
FASTEST_PATHS = sorted({(path.backend, path.precision, int8_scope(fastest_record(kind))): kind for kind, path in
                        FASTEST.items()}.values())  # fmt: skip


@pytest.mark.parametrize("kind", FASTEST_PATHS)
def test_the_fastest_path_of_each_cpu_kind_writes_masks_within_its_bound(
    kind: str, overfit_run: OverfitRun, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``model export --fastest`` prints and records its choice; predict runs the file in the recorded precision
    (bf16 only where this CPU has it) and its masks stay within the bounds of the path's precision."""
    from mgd_sam2.inference.backends import openvino_has_bf16
    from mgd_sam2.inference.cpu_kind import detect_cpu_kind
    from mgd_sam2.inference.fastest import writes_the_same

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    split = resolve_split(overfit_run.root, "synthetic/SYN-TR")
    argv = ["model", "export", "--ckpt", str(overfit_run.checkpoint), "--fastest", str(tmp_path / "model"),
            "--cpu-kind", kind, "--calibration", str(split.image_dir)]  # fmt: skip
    chosen = FASTEST[kind]
    (tmp_path / "model.onnx").write_bytes(b"an earlier export")
    other = tmp_path / ("model_int8.onnx" if chosen.backend == "openvino-int8" else "model_int8.xml")
    other.write_bytes(b"an earlier --fastest's other form")  # another CPU kind's choice
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"replacing {tmp_path / 'model.onnx'} (each kept until its new file is written)\n" in out
        and f"note: {other}, of an earlier --fastest, stays" in out
    )
    assert other.read_bytes() == b"an earlier --fastest's other form"
    assert f"CPU kind: {kind}" in out and chosen.basis in out
    assert ("--calibration is not used" in out) == (chosen.backend != "openvino-int8")
    run = Path(out.split("predict with: mgd-sam2 predict --ckpt ")[1].split()[0])
    assert run.suffix == (".xml" if chosen.backend == "openvino-int8" else ".onnx") and run.is_file()
    if chosen.backend == "openvino-int8":
        assert_int8_scope(run, tmp_path / "model.onnx", int8_scope(fastest_record(kind)))  # the kind's, not this CPU's
    predict(overfit_run.checkpoint, split.image_dir, tmp_path / "torch")
    predict(run, split.image_dir, tmp_path / "fastest")  # --precision auto: the recorded one
    out = capsys.readouterr().out
    assert f"chosen by model export --fastest for {kind} CPUs" in out
    here = detect_cpu_kind().kind
    other_form = kind != here and not writes_the_same(kind, here)
    assert (f"; this CPU is of kind {here}, for which --fastest chooses" in out) == other_form
    # and says to export for it (a try-out ran an avx512_bf16 file on AVX2: 1.14 grey levels off, past the bound),
    # but not where that export would be this one (a try-out was told to export avx512's ONNX Runtime int8 again)
    assert (f"so export again with --cpu-kind {here}, or on this machine" in out) == other_form
    assert (f"; this CPU is of kind {here}, for which --fastest writes this same form" in out) == (
        kind != here and writes_the_same(kind, here)
    )
    provenance = json.loads(Image.open(next((tmp_path / "fastest").glob("*.png"))).info[PROVENANCE_KEY])
    native = chosen.precision == "bf16-mixed" and openvino_has_bf16()
    assert provenance["precision"] == ("bf16-mixed" if native else "32-true")
    runtime = "openvino" if chosen.backend == "openvino-int8" else "onnx"  # how each ran, after the model line
    assert "\nruns: torch on cpu, 32-true, detail off\n" in out
    assert f"\nruns: {runtime} on cpu, {provenance['precision']}, detail off\n" in out
    if chosen.backend == "onnx":
        close_maps(tmp_path / "fastest", tmp_path / "torch")
    else:
        assert_within_quantized_bounds(tmp_path / "fastest", tmp_path / "torch", split.mask_dir)


def test_a_file_chosen_for_another_cpu_kind_says_whether_to_export_again(
    exported: dict[str, Path], monkeypatch
) -> None:
    """predict's model line for a --fastest file run on a CPU of another kind: export again where --fastest would write
    another form here (with the saturation reason only for OpenVINO int8 on the kinds measured without VNNI; a kind it
    does not know said as such),
    not where it would write this same form (a try-out on AVX2 was told to export avx512's ONNX Runtime int8 again)."""
    import mgd_sam2.inference.cpu_kind as cpu_kind
    from mgd_sam2.inference.backends import OnnxBackend

    backend = OnnxBackend(exported["int8"])
    again, saturated = "so export again with --cpu-kind", "(OpenVINO int8's maps were past the demo model's bounds"
    for here, chosen, says in [
        ("avx2", "avx2", None),
        ("avx2", "avx512", "; this CPU is of kind avx2, for which --fastest writes this same form)"),
        ("avx2", "avx512_bf16", f"; this CPU is of kind avx2, for which --fastest chooses ONNX Runtime int8 "
                                f"{saturated} on CPUs without VNNI), {again} avx2, or on this machine)"),
        ("avx512_bf16", "avx2", "; this CPU is of kind avx512_bf16, for which --fastest chooses OpenVINO int8 run in "
                                f"bf16, {again} avx512_bf16, or on this machine)"),
        ("other", "avx512_bf16", "; this CPU is of kind other, for which --fastest chooses ONNX Runtime fp32, "
                                 f"{again} other, or on this machine)"),  # no VNNI claim where nothing was measured
        ("avx2", "avx10", "; a CPU kind this version does not know, so export again with --fastest on this machine "
                          "(its kind: avx2))"),  # recorded by a later version: said, not a KeyError
    ]:  # fmt: skip
        monkeypatch.setattr(
            cpu_kind, "detect_cpu_kind", lambda forced=None, kind=here: cpu_kind.CpuKind(kind, (), "test")
        )
        backend.chosen_for, backend.recorded_precision = chosen, "32-true"
        description = backend.describe()
        assert description.endswith(f"chosen by model export --fastest for {chosen} CPUs, to run in 32-true"
                                    f"{says or ')'}"), description  # fmt: skip


def test_calibration_options_an_export_does_not_use_are_noted(tmp_path: Path, capsys) -> None:
    """--calibration and --calibration-images given where nothing is calibrated (ONNX Runtime int8, --fastest's choice
    on AVX2) get one note each time; a try-out's --calibration-images had been dropped without a word."""
    import argparse

    from mgd_sam2.commands.model import check_unused_calibration

    for calibration, images, record, said in [
        (None, None, None, ""),
        (None, 4, None,
         "note: --calibration-images is not used: only --openvino-int8 (or --fastest's OpenVINO int8) is calibrated\n"),
        (tmp_path, 4, fastest_record("avx2"),
         "note: --calibration and --calibration-images are not used: ONNX Runtime int8 needs no calibration images\n"),
        (tmp_path, None, fastest_record("other"),
         "note: --calibration is not used: ONNX Runtime fp32 needs no calibration images\n"),
    ]:  # fmt: skip
        check_unused_calibration(argparse.Namespace(calibration=calibration, calibration_images=images), record)
        assert capsys.readouterr().out == said


def test_openvino_int8_export_mistakes_are_one_line_errors(trained_checkpoint: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "empty.bin").mkdir()  # the weights file of an empty.xml
    (tmp_path / "f.onnx").mkdir()  # the ONNX file of --fastest f
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(calibration / name)
    single = tmp_path / "single"
    single.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(single / "a.png")
    one = ["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "a.xml"), "--calibration",
           str(single)]  # fmt: skip
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(broken / "a.png")
    (broken / "b.png").write_bytes(b"")  # checked before the ONNX step, not after it
    base = ["model", "export", "--ckpt", str(trained_checkpoint)]
    for extra, message in (
        (["--openvino-int8", str(tmp_path / "a.xml")], "give --onnx too"),
        (["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "a.xml")], "give --calibration"),
        (["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "a.bin"), "--calibration", str(empty)],
         "give a .xml file name"),
        (["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "a.xml"), "--calibration", str(empty)],
         "holds no images: give at least 2, one to calibrate on and one held out"),
        (one, f"--calibration {single} holds 1 image: give at least 2, one to calibrate on and one held out to "
         "check the int8 model on (the accuracy of docs/benchmarks.md was measured calibrated on 16)"),
        (["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "empty.xml"), "--calibration",
          str(calibration)], "is a folder"),
        (["--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "a.xml"), "--calibration", str(broken)],
         f"--calibration: 1 of its first 2 images cannot be read (cannot read {broken / 'b.png'}"),
        (["--onnx", str(tmp_path / "a.xml")], f"--onnx writes ONNX: give a .onnx file name, not {tmp_path / 'a.xml'}"),
        (["--onnx", str(tmp_path / "a")], "--onnx writes ONNX: give a .onnx file name"),  # the format from its name
        (["--onnx", str(tmp_path / "a.onnx"), "--int8", str(tmp_path / "a.xml")], "--int8 writes ONNX: give a .onnx"),
        (["--onnx", str(tmp_path / "a.onnx"), "--int8", str(tmp_path / "a.onnx")],
         f"--onnx and --int8 name the same file, {tmp_path / 'a.onnx'}: give each its own"),
        (["--out", str(tmp_path / "a.onnx")], "--out writes trained weights: give a .safetensors (or .pt, .pth) file"),
        (["--fastest", str(tmp_path / "f"), "--cpu-kind", "avx2"],
         f"--fastest {tmp_path / 'f.onnx'} is a folder; give another STEM"),  # the flag given, not --onnx
        # a mistyped --calibration where none is used: an error, as where it is (it was a "not used" note)
        (["--onnx", str(tmp_path / "a.onnx"), "--calibration", str(tmp_path / "nope")],
         f"--calibration {tmp_path / 'nope'} is not a folder of images"),
        (["--fastest", str(tmp_path / "a"), "--cpu-kind", "avx2", "--calibration", str(tmp_path / "nope")],
         f"--calibration {tmp_path / 'nope'} is not a folder of images"),
    ):  # fmt: skip
        assert main([*base, *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert not list(tmp_path.glob("a.*")) and not (tmp_path / "empty.xml").exists()  # nothing written
    few = [*base, "--onnx", str(tmp_path / "a.onnx"), "--openvino-int8", str(tmp_path / "empty.xml"), "--calibration",
           str(calibration)]  # fmt: skip
    assert main(few) == 1  # refused for empty.bin, after the calibration folder was read
    out = capsys.readouterr().out
    assert (
        f"note: --calibration {calibration} holds 2 images, fewer than the 16 asked for plus one to hold out: "
        "calibrating on 1 image; the accuracy of docs/benchmarks.md (Accuracy of every backend) was measured "
        "calibrated on 16\n"
    ) in out
    for index in range(1, 16):  # 17 in all: as many as measured and one held out, fewer than asked
        Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(calibration / f"{index:02}.png")
    assert main([*few, "--calibration-images", "20"]) == 1
    out = capsys.readouterr().out
    assert "holds 17 images, fewer than the 20 asked for plus one to hold out: calibrating on 16 images\n" in out, out
    exported = tmp_path / "a.onnx"
    exported.write_bytes(b"an export")
    assert main(["model", "export", "--ckpt", str(exported), "--onnx", str(tmp_path / "b.onnx")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: --ckpt {exported} is an export: model export starts from PyTorch weights (the checkpoint or weights "
        "it was exported from)"
    )


def test_an_export_never_replaces_the_files_it_reads(tmp_path: Path, capsys) -> None:
    """--out (or an export) naming the --ckpt or --weights it reads (or the file a --ckpt link points to), or a file
    of a --ckpt model folder, is refused before anything is loaded or written: the source stays as it was."""
    # a checkpoint named .pt: one named .ckpt is no --out name at all (refused for that first)
    checkpoint, sam2, weights, folder = (tmp_path / name for name in ("c.pt", "sam2.pt", "w.safetensors", "m"))
    folder.mkdir()
    for source in (checkpoint, sam2, weights, folder / "model.safetensors"):
        source.write_bytes(b"the weights")
    (tmp_path / "link.pt").symlink_to(checkpoint)
    for args, message in (
        (["--ckpt", str(checkpoint), "--out", str(checkpoint)],
         f"--out {checkpoint} would replace --ckpt {checkpoint}"),
        (["--ckpt", str(tmp_path / "link.pt"), "--out", str(checkpoint)], "would replace --ckpt"),  # its target
        (["--ckpt", str(sam2), "--weights", str(weights), "--out", str(weights)],
         f"--out {weights} would replace --weights {weights}"),
        (["--ckpt", str(folder), "--out", str(folder / "model.safetensors")], f"would replace --ckpt {folder}"),
    ):  # fmt: skip
        assert main(["model", "export", *args]) == 1
        err = capsys.readouterr().err
        assert message in err and "which the export reads: give another file name" in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    for source in (checkpoint, sam2, weights, folder / "model.safetensors"):
        assert source.read_bytes() == b"the weights"


def test_an_export_step_fails_with_its_own_one_line_error(tmp_path: Path, capsys) -> None:
    """The steps run in processes of their own (inference/export_steps.py): an error there is the command's one-line
    error, and a process killed by the system one too."""
    from mgd_sam2.errors import UserError
    from mgd_sam2.utils.isolated import run_isolated

    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(image)
    assert main(["model", "export", "--ckpt", str(image), "--onnx", str(tmp_path / "a.onnx")]) == 1
    err = capsys.readouterr().err
    assert f"{image} is not a weights file" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a.onnx").exists()
    with pytest.raises(UserError, match="the process running abort ended without a result"):
        run_isolated(os.abort)


def test_a_fresh_process_reports_its_own_memory_peak() -> None:
    """An export step's peak (``peak_host_memory_mb`` in its report) is its own process's: a spawned process's
    VmHWM stays far below its parent's size, which Linux's ``ru_maxrss`` would count in it."""
    from mgd_sam2.utils.isolated import resident_mb, run_isolated

    held = np.ones(2**27)  # 1 GiB, touched: this process's peak is at least that
    parent_peak = resident_mb()[1]
    child_rss, child_peak = run_isolated(resident_mb)
    assert parent_peak >= held.nbytes / 2**20 and 0 < child_rss <= child_peak < 512, (parent_peak, child_peak)


def test_nncf_statistics_outputs_come_first_only_within_the_block() -> None:
    """inference/nncf_memory.py hooks the installed NNCF (a renamed method would make it a silent no-op)."""
    import openvino as ov
    from nncf.openvino.graph.model_transformer import OVModelTransformer

    from mgd_sam2.inference.nncf_memory import statistics_outputs_first

    parameter = ov.opset13.parameter([1, 4], name="x")
    relu = ov.opset13.relu(parameter)
    model = ov.Model([ov.opset13.result(ov.opset13.sigmoid(relu))], [parameter])
    added = [(relu.output(0), 0, None)]
    with statistics_outputs_first():
        first = OVModelTransformer._insert_outputs(model, added)
    last = OVModelTransformer._insert_outputs(model, added)
    kinds = [[result.input_value(0).get_node().get_type_name() for result in m.get_results()] for m in (first, last)]
    assert kinds == [["Relu", "Sigmoid"], ["Sigmoid", "Relu"]]


@pytest.mark.slow
def test_nncf_quantizes_the_same_with_its_statistics_outputs_first(
    exported: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    """Reordering the statistics outputs changes when OpenVINO computes them (and so the memory), not the int8
    model: the same weights, byte for byte."""
    from mgd_sam2.inference import export

    backend = export.OnnxBackend(exported["onnx"])
    views = [export.check_views(backend, seed) for seed in (1, 2)]
    expected = np.zeros((1, 1, backend.input_size, backend.input_size), np.float32)  # the distance is not checked
    weights = []
    for hooked in (True, False):
        if not hooked:
            monkeypatch.setattr(export, "statistics_outputs_first", contextlib.nullcontext)
        path = tmp_path / f"{hooked}.xml"
        export.quantize_openvino(exported["onnx"], path, views, views[:1], expected)
        weights.append(path.with_suffix(".bin").read_bytes())
    assert weights[0] == weights[1]


def test_openvino_runs_the_file_it_is_given_not_a_cached_one(tmp_path: Path, monkeypatch) -> None:
    """A model exported again to the same path must not be served from the compile cache of the old one."""
    import torch

    from mgd_sam2.inference.backends import OnnxBackend, OpenVinoBackend
    from mgd_sam2.inference.export import check_views, export_onnx
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.onnx"
    results = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        network = MGDSAM2(NetworkConfig(preset="micro")).eval()
        export_onnx(network, path)
        views = check_views(network)
        expected, got = OnnxBackend(path).logits(views), OpenVinoBackend(path).logits(views)
        assert float((got - expected).abs().max()) <= FP32_KERNELS, seed
        results.append(got)
    assert float((results[0] - results[1]).abs().max()) > 1e-2


def test_one_openvino_backend_serves_threads_each_its_own_logits(tmp_path: Path) -> None:
    """A Segmenter of an OpenVINO export called from several threads (a web service's): each call gets the logits of
    its own input, as called one at a time (they shared one infer request's buffers: 38 of 40 masks were another
    call's, in a try-out)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from mgd_sam2.inference.backends import ONNX_INPUTS, OpenVinoBackend
    from mgd_sam2.inference.export import check_views, export_onnx
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    torch.manual_seed(0)
    network = MGDSAM2(NetworkConfig(preset="micro")).eval()
    path = tmp_path / "model.onnx"
    export_onnx(network, path)
    views = check_views(network)
    feeds = [{name: (getattr(views, name) * scale).numpy() for name in ONNX_INPUTS} for scale in (0.2, 0.6, 1.0, 1.4)]
    backend = OpenVinoBackend(path, cache=False)
    alone = [backend.run(feed) for feed in feeds]
    assert all(not np.array_equal(alone[0], other) for other in alone[1:])  # four inputs, four answers
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(backend.run, feeds * 8))
    assert [i for i, logits in enumerate(together) if not np.array_equal(logits, alone[i % 4])] == []


def test_openvino_caches_each_precision_apart(tmp_path: Path, monkeypatch) -> None:
    """OpenVINO 2026.4's cache key leaves the inference precision out: with one folder for both, a bf16 load after
    an fp32 one imported the fp32 blob as bf16 and gave wrong maps on an AMX CPU. Each precision has its folder, and
    where this CPU has bf16, a cached bf16 load after a cached fp32 one gives the logits of an uncached bf16 load."""
    import torch

    from mgd_sam2.inference.backends import OpenVinoBackend, openvino_has_bf16
    from mgd_sam2.inference.export import check_views, export_onnx
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    monkeypatch.setenv("MGD_SAM2_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    network = MGDSAM2(NetworkConfig(preset="micro")).eval()
    path = tmp_path / "model.onnx"
    export_onnx(network, path)
    views = check_views(network)
    OpenVinoBackend(path).logits(views)
    bf16 = openvino_has_bf16()
    if bf16:
        cached = OpenVinoBackend(path, bf16=True).logits(views)
        assert torch.equal(cached, OpenVinoBackend(path, bf16=True, cache=False).logits(views))
    filled = {folder.name: any(folder.iterdir()) for folder in (tmp_path / "cache" / "openvino").iterdir()}
    assert filled == ({"f32": True, "bf16": True} if bf16 else {"f32": True})


def test_the_export_check_is_relative_to_the_logits_scale(tmp_path: Path, monkeypatch) -> None:
    """EXPORT_TOLERANCE scales with the logits (rounding does), never below an absolute 1e-3."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference import export
    from mgd_sam2.models.network import MGDSAM2, NetworkConfig

    network = MGDSAM2(NetworkConfig(preset="micro")).eval()
    for scale, difference, accepted in ((20.0, 0.015, True), (0.2, 0.0011, False)):
        report = {"max_abs_logit": scale, "max_abs_logit_diff": difference, "mean_abs_sigmoid_diff": 0.0}
        monkeypatch.setattr(export, "compare", lambda *args, report=report: report)
        path = tmp_path / f"{scale}.onnx"
        if accepted:
            export.export_onnx(network, path)
        else:
            with pytest.raises(ConfigError, match="differs from PyTorch by 1.10e-03 in the logits"):
                export.export_onnx(network, path)
        assert path.is_file() == accepted


def test_the_mask_check_measures_the_exports_mask_and_refuses_a_far_one(
    exported: dict[str, Path], overfit_run: OverfitRun, tmp_path: Path, monkeypatch
) -> None:
    """`mask_distance` is the distance of the export's own mask: within MAP_LEVELS_FP32 of PyTorch's, and a changed
    pixel of the reference shows in full; the fp32 export is refused (and not left behind) beyond
    EXPORT_MASK_LEVELS."""
    from mgd_sam2.errors import ConfigError
    from mgd_sam2.inference import export_steps
    from mgd_sam2.inference.loading import CheckpointSource
    from mgd_sam2.inference.segmenter import Segmenter

    image = export_steps.check_image(64)
    expected = Segmenter.load(overfit_run.checkpoint, device="cpu", precision="32-true").predict(image)
    same = export_steps.mask_distance(exported["onnx"], image, expected)
    assert same["mask_max_levels"] <= MAP_LEVELS_FP32
    changed = expected.copy()
    changed[0, 0] = (int(expected[0, 0]) + 128) % 256
    assert export_steps.mask_distance(exported["onnx"], image, changed)["mask_max_levels"] >= 128 - MAP_LEVELS_FP32
    monkeypatch.setattr(export_steps, "EXPORT_MASK_LEVELS", -1)  # any mask is too far
    path = tmp_path / "refused.onnx"
    with pytest.raises(ConfigError, match="mask differs from PyTorch's"):
        export_steps.export_network(CheckpointSource(overfit_run.checkpoint, None), path, None, None)
    assert not path.exists()
