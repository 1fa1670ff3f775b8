"""Run the authors' MGD-SAM2 code on the formula weights and image; save its outputs as a test fixture.

    python tools/reference/official_forward.py --official-repo PATH/TO/sevenshr/MGD-SAM2 \
        --out tests/fixtures/official_forward.pt

``PATH`` is a checkout of https://github.com/sevenshr/MGD-SAM2 (the fixture was made at 70a9f8d). Nothing of it is
copied into this project: it is copied to a temporary folder, where its hard-coded CUDA device strings are changed to
CPU ones, and imported from there. Their B+ model is built from their DIS config (``configs/dis-sam-vit-b1.yaml``) on
the CPU in float32, given the formula state dict of ``tests/formula_inputs.py`` with ``load_state_dict(strict=True)``,
and run as their ``test.py`` runs one image: their test dataset wrapper reads the formula image from a PNG (resize to
1024, ToTensor, ImageNet normalisation), and ``model.infer`` runs on it after the attributes ``eval_psnr`` sets for
its identity pass (no flip, scale 1). The logits before their resize to the GT and sigmoid are kept. It runs in this
project's environment (their imports: hydra and iopath come with sam2, imageio with scikit-image, einops, OpenCV),
in about 30 s of one CPU core.

The fixture holds every 3rd pixel of the final logits and of the five views' low-resolution logits (SAM2's mask
decoder output, before DRM), the commit, the torch and numpy versions, the CPU, and digests of the formula inputs
(tests/test_checkpoints.py compares ``base_plus_official`` loaded through this project's converter with it).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from formula_inputs import digest, formula_image, released_formula_state_dict, released_key_shapes  # noqa: E402

CONFIG = "configs/dis-sam-vit-b1.yaml"  # their DIS config: B+ with global attention blocks [12, 16, 10]
# Their code's device strings (models/sam.py, models/sam2/modeling/sam/mask_decoder.py): CPU ones in the copy
TO_CPU = [("device='cuda'", "device='cpu'"), (".to('cuda')", ".to('cpu')"), (".cuda()", ".cpu()")]
# the fixture keeps every 3rd pixel: prime to the 4-pixel period of SAM2's two stride-2 transposed convolutions
STRIDE = 3


def cpu_copy(official: Path, folder: Path) -> int:
    """Copy their code to ``folder`` with the CUDA device strings of its ``models`` package made CPU ones; the number
    of strings changed."""
    shutil.copytree(official, folder, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    changed = 0
    for path in sorted((folder / "models").rglob("*.py")):
        text = original = path.read_text()
        for cuda, cpu in TO_CPU:
            changed += text.count(cuda)
            text = text.replace(cuda, cpu)
        if text != original:
            path.write_text(text)
    return changed


def commit_of(official: Path, given: str | None) -> str:
    if given:
        return given
    found = subprocess.run(["git", "-C", str(official), "rev-parse", "HEAD"], capture_output=True, text=True)
    if found.returncode:
        raise SystemExit(f"{official} is not a git checkout: give its commit with --commit")
    return found.stdout.strip()


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run(official: Path, folder: Path, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Their model with ``state`` on the formula image: {"input": (1, 3, 1024, 1024) as their test dataset gives it,
    "logits": (1, 1, 1024, 1024), "view_logits": (5, 1, 128, 128)}."""
    from PIL import Image

    code = folder / "official"
    print(f"their code's CUDA device strings made CPU ones in a copy: {cpu_copy(official, code)}")
    for kind in ("im", "gt"):
        (folder / "data" / kind).mkdir(parents=True)
    image = formula_image()
    Image.fromarray(image).save(folder / "data/im/formula.png")
    Image.fromarray(np.zeros(image.shape[:2], np.uint8)).save(folder / "data/gt/formula.png")  # read, not used

    sys.path.insert(0, str(code))
    import datasets  # theirs
    import models
    import yaml

    with open(code / CONFIG) as handle:
        config = yaml.load(handle, Loader=yaml.FullLoader)
    spec = config["test_dataset"]
    spec["dataset"]["args"].update(root_path_1=str(folder / "data/im"), root_path_2=str(folder / "data/gt"))
    dataset = datasets.make(spec["wrapper"], args={"dataset": datasets.make(spec["dataset"])})
    inp = dataset[0]["inp"][None]  # test.py's loader: batch size 1

    model = models.make(config["model"])
    expected = {key: shape for key, (shape, _) in released_key_shapes().items()}
    built = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    if built != expected:
        raise SystemExit(f"their model's state dict is not the fixture's table: {sorted(set(built) ^ set(expected))}")
    model.load_state_dict(state, strict=True)
    model.eval()
    # what test.py's eval_psnr sets before each TTA pass; this is its identity pass (no flip, scale 1)
    model.inp_size = inp.shape[-1] // 2
    side = model.inp_size
    model._bb_feat_sizes = [(side // 4, side // 4), (side // 8, side // 8), (side // 16, side // 16)]
    model.image_embedding_size = model.inp_size // model.patch_size

    captured = {}
    hook = model.sam_mask_decoder.register_forward_hook(lambda _m, _i, out: captured.update(view_logits=out[0]))
    with torch.no_grad():
        logits = model.infer(inp)
    hook.remove()
    return {"input": inp, "logits": logits, "view_logits": captured["view_logits"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-repo", type=Path, required=True, help="a checkout of sevenshr/MGD-SAM2")
    parser.add_argument("--commit", help="its commit, where it is not a git checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/official_forward.pt")
    args = parser.parse_args()
    commit = commit_of(args.official_repo, args.commit)
    torch.set_grad_enabled(False)
    state = released_formula_state_dict()
    with tempfile.TemporaryDirectory() as folder:
        outputs = run(args.official_repo.resolve(), Path(folder), state)
    logits = outputs["logits"]
    stats = {name: float(getattr(logits, name)()) for name in ("mean", "std", "min", "max")}
    print(f"logits {tuple(logits.shape)}: " + ", ".join(f"{name} {value:.4f}" for name, value in stats.items()))
    print(f"positive: {float((logits > 0).float().mean()):.3f} of pixels")
    views = outputs["view_logits"]
    print(
        f"view logits {tuple(views.shape)}: mean {float(views.mean()):.4f}, std {float(views.std()):.4f}, "
        f"min {float(views.min()):.4f}, max {float(views.max()):.4f}"
    )
    fixture = {
        "logits": logits[..., ::STRIDE, ::STRIDE].float().contiguous(),
        "view_logits": views[..., ::STRIDE, ::STRIDE].float().contiguous(),
        "stride": STRIDE,
        "logit_stats": stats,
        "official_commit": commit,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "cpu": cpu_name(),
        "weights_sha256": digest(state),
        "image_sha256": digest({"image": torch.from_numpy(formula_image())}),
        "input_sha256": digest({"input": outputs["input"][0]}),  # their preprocessed input, (3, 1024, 1024) float32
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
