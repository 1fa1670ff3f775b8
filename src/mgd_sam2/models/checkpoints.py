"""Loading weights into MGDSAM2: Meta's SAM2/SAM2.1 checkpoints and the authors' released MGD-SAM2 weights.

Every load reports what it did by name (loaded, re-initialised, missing, ignored) and fails with a
message that says what the file is and what to do for a file of another model size or format.
Files are read with ``torch.load(weights_only=True)``: no code in a checkpoint ever runs.
"""

from __future__ import annotations

import json
import pickle
import re
from collections import defaultdict
from dataclasses import dataclass, field, fields
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

import torch
from torch import Tensor, nn

from mgd_sam2.errors import ConfigError, MissingFileError, UserError
from mgd_sam2.models.groups import TRUNK, from_sam2_name, module_group
from mgd_sam2.models.presets import PRESETS, RELEASED_PRESET, get_preset
from mgd_sam2.utils.files import broken_link

if TYPE_CHECKING:
    from mgd_sam2.models.network import NetworkConfig

SAM2_DOWNLOAD_HINT = (
    "Download SAM2.1 checkpoints from https://github.com/facebookresearch/sam2 (section 'Download Checkpoints') "
    "and put them under checkpoints/ (see checkpoints/README.md)."
)
RELEASED_DOWNLOAD_HINT = (
    "The authors' released MGD-SAM2 weights are linked (Google Drive) from the README of "
    "https://github.com/sevenshr/MGD-SAM2; put them under checkpoints/official/ (see checkpoints/README.md)."
)
RUNS_HINT = "Checkpoints of training runs are under runs/<name>/version_<n>/checkpoints/"


TRAINED_WEIGHTS_FORMAT = "mgd-sam2 trained weights v1"  # the "format" of `mgd-sam2 model export` files
# `model export --out`'s file names: torch.save for these suffixes, safetensors for .safetensors
TORCH_SAVE_SUFFIXES = (".pt", ".pth")
TRAINED_WEIGHTS_SUFFIXES = (".safetensors", *TORCH_SAVE_SUFFIXES)
ZIP_MAGIC, PICKLE_PROTOCOL = b"PK\x03\x04", b"\x80"  # how files of torch.save begin (zip; a pickle before torch 1.6)
NOT_WEIGHTS_HINT = (
    "neither a PyTorch checkpoint (.ckpt, .pt, .pth), safetensors, a model folder, nor an ONNX (.onnx) or OpenVINO "
    "(.xml) export"
)
WeightsKind = Literal["lightning", "trained", "released", "sam2", "unknown"]
MODULE_PREFIX = "model."  # a Lightning checkpoint of this project's training keeps the network as the module's `model`


class CheckpointError(UserError, ValueError):
    """A weights file that cannot be used as asked; the message says why and what to do."""


@dataclass
class LoadReport:
    """What a load did, by parameter name."""

    source: str
    kind: str
    loaded: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model keys the file did not provide
    ignored: list[str] = field(default_factory=list)  # file keys the model does not use

    def details(self) -> str:
        """Every key by name, one section per outcome."""
        sections = [
            ("loaded", self.loaded),
            ("re-initialised (shape differs by design)", self.reinitialised),
            ("missing from the file (start from initialisation)", self.missing),
            ("in the file, not used by MGD-SAM2", self.ignored),
        ]
        return "\n".join(
            f"{title} ({len(keys)}):\n" + "".join(f"  {key}\n" for key in keys) for title, keys in sections
        )

    def summary(self) -> str:
        def grouped(keys: list[str]) -> str:
            counts: dict[str, int] = defaultdict(int)
            for key in keys:  # by module, to three names deep: image_encoder.trunk.mpadapter, not all of the trunk
                names = key.split(".")[:-1][:3] or key.split(".")[:1]  # a tensor of the top level: its own name
                counts[".".join(takewhile(lambda name: not name.isdigit(), names))] += 1  # not layers.0, layers.1
            return ", ".join(f"{prefix} ({n})" for prefix, n in sorted(counts.items())) or "none"

        return (
            f"{self.kind} weights from {self.source}: loaded {len(self.loaded)} tensors; "
            f"re-initialised {len(self.reinitialised)} (shape differs by design): "
            f"{', '.join(self.reinitialised) or 'none'}; "
            f"missing {len(self.missing)} (start from initialisation): {grouped(self.missing)}; "
            f"ignored {len(self.ignored)} (not used by MGD-SAM2): {grouped(self.ignored)}"
        )


def is_safetensors(path: Path) -> bool:
    """True for a safetensors file: an 8-byte little-endian header length, then the JSON header."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


def read_safetensors(path: Path) -> dict:
    """{"state_dict": tensors, and the header's metadata: "format", "network" (decoded JSON), "trunk" (the digest of
    the frozen trunk the weights were trained on, `trunk_digest`)}."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({error}); export or download it again"
        ) from error
    content: dict = {"state_dict": state}
    if "format" in metadata:
        content["format"] = metadata["format"]
    if "network" in metadata:
        content["network"] = json.loads(metadata["network"])
    if "trunk" in metadata:
        content["trunk"] = metadata["trunk"]
    return content


def weights_format(path: Path) -> str | None:
    """The ``format`` a weights file records (``TRAINED_WEIGHTS_FORMAT`` for ``model export --out``'s, a model
    folder's own for its ``model.safetensors``); None for a file that records none or is no readable weights file."""
    from safetensors import SafetensorError, safe_open

    try:
        if is_safetensors(path):
            with safe_open(str(path), framework="pt") as handle:
                return (handle.metadata() or {}).get("format")
        found = load_torch_file(path, mmap=True).get("format")
    except (OSError, SafetensorError, CheckpointError):
        return None
    return found if isinstance(found, str) else None


def load_torch_file(path: Path, mmap: bool = False) -> dict:
    """``torch.load(path, weights_only=True)``: a dict of plain tensors and values, or a one-line CheckpointError for
    a file holding other pickled objects (never loaded: they could run code) or a damaged one. ``mmap``: the tensors
    are mapped, not read (a cheap check of a whole training checkpoint)."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    if len(start) < 4:
        raise CheckpointError(f"{path} is empty or cut short ({len(start)} bytes): download or export it again")
    if not start.startswith((ZIP_MAGIC, PICKLE_PROTOCOL)):  # torch.save writes a zip, older torch a pickle
        raise CheckpointError(f"{path} is not a weights file: {NOT_WEIGHTS_HINT}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds pickled Python objects besides tensors; it is refused because loading it could run "
            "arbitrary code. Use a file of plain weights: a checkpoint of this project's training, or a state dict "
            "saved with torch.save."
        ) from error
    except Exception as error:  # torch raises RuntimeError or EOFError depending on the damage
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
            "Check the file is complete (re-download it) and is a .pt/.pth/.ckpt weights file."
        ) from error
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a dict of weights")
    return content


def missing_weights_hint(path: Path) -> str:
    """Where the missing weights file ``path`` comes from, by its name: a training run's .ckpt (with the ones next
    to it), a SAM2.1 checkpoint, or else the authors' released weights."""
    if path.suffix == ".ckpt":
        nearby = sorted(other.name for other in path.parent.glob("*.ckpt") if other.is_file())[:5]
        return f"{RUNS_HINT}" + (f"; {path.parent} holds {', '.join(nearby)}." if nearby else ".")
    if path.name.lower().startswith("sam2"):
        return SAM2_DOWNLOAD_HINT
    return (
        f"{RELEASED_DOWNLOAD_HINT} {RUNS_HINT}; trained weights for --weights are written by `mgd-sam2 model export "
        "--out`. SAM2.1 checkpoints: https://github.com/facebookresearch/sam2."
    )


def read_weights_file(path: str | Path) -> dict:
    """The content of a weights file, safetensors or ``torch.load(path, weights_only=True)``, with clear errors for
    a missing, damaged or unsafe file."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in (".pt", ".pth", ".ckpt"))[:5]
        runs = sorted(p.name for p in (path / "checkpoints").glob("*.ckpt"))[:5]  # a training run's folder
        held = (f" (it holds {', '.join(inside)})" if inside else
                f" (a training run's folder: its checkpoints/ holds {', '.join(runs)})" if runs else "")  # fmt: skip
        raise CheckpointError(
            f"{path} is a folder, and not a model folder of Segmenter.save_pretrained: give a weights file{held}"
        )
    if link := broken_link(path):
        raise MissingFileError(f"weights file {path} is {link}")
    if not path.is_file():
        raise MissingFileError(f"weights file not found: {path}. {missing_weights_hint(path)}")
    if (model := openvino_model_of(path)) is not None:
        raise CheckpointError(f"{path} is the weights half of the OpenVINO model {model}: give the .xml")
    if is_safetensors(path):
        return read_safetensors(path)
    return load_torch_file(path)


def openvino_model_of(path: str | Path) -> Path | None:
    """The OpenVINO IR .xml whose weights half ``path`` is (a .bin beside its .xml); None for any other file (torch
    and safetensors weights may be named .bin too)."""
    model = Path(path).with_suffix(".xml")
    return model if Path(path).suffix == ".bin" and model.is_file() else None


def weights_kind(content: dict) -> WeightsKind:
    """What a weights file is: a Lightning checkpoint of our training ("lightning"), trained weights from
    ``mgd-sam2 model export`` ("trained"), the authors' released weights ("released"), a SAM2/SAM2.1
    checkpoint ("sam2"), or none of these ("unknown")."""
    if "state_dict" in content and "hyper_parameters" in content:
        return "lightning"
    if content.get("format") == TRAINED_WEIGHTS_FORMAT:
        return "trained"
    state = unwrap_state_dict(content)
    if is_official_mgdsam2(state):
        return "released"
    if any(key.startswith(TRUNK.sam2_prefix) for key in state):
        return "sam2"
    return "unknown"


# What to do with each kind of file where another was expected.
WEIGHTS_USE = {
    "lightning": "a Lightning checkpoint of a training run, holding every MGD-SAM2 weight: use it as "
    "`predict --ckpt`, `test --ckpt_path`, `fit --ckpt_path` to resume, or `--model.pretrained` to start a new fit",
    "trained": "trained weights from `mgd-sam2 model export` (everything but the frozen trunk): use it as "
    "`predict --weights`, with the SAM2.1 checkpoint or the released MGD-SAM2 weights it was trained from as `--ckpt`",
}


def unwrap_state_dict(content: dict) -> dict[str, Tensor]:
    """The tensor dict inside a checkpoint: ``{"model": ...}`` (Meta), ``{"state_dict": ...}``, or the dict itself;
    a DDP ``module.`` prefix is removed."""
    for wrapper in ("model", "state_dict"):
        if isinstance(content.get(wrapper), dict):
            content = content[wrapper]
            break
    state = {key.removeprefix("module."): value for key, value in content.items() if isinstance(value, Tensor)}
    return state


def is_official_mgdsam2(state: dict[str, Tensor]) -> bool:
    """True for the key layout of the authors' released MGD-SAM2 weights."""
    return any(key.startswith(("image_encoder.trunk.mpadapter.", "detail_enhance.")) for key in state)


def describe_hiera(state: dict[str, Tensor], prefix: str) -> tuple[int, int]:
    """(embed_dim, number of blocks) of the Hiera trunk stored under ``prefix``."""
    embed_dim = state[f"{prefix}patch_embed.proj.weight"].shape[0]
    blocks = {int(m.group(1)) for key in state if (m := re.match(rf"{re.escape(prefix)}blocks\.(\d+)\.", key))}
    return embed_dim, len(blocks)


def presets_of_size(embed_dim: int, depth: int) -> list[str]:
    """The presets whose Hiera trunk has this width and number of blocks, in PRESETS' order."""
    return [name for name, p in PRESETS.items() if (p.embed_dim, p.depth) == (embed_dim, depth)]


def size_name(embed_dim: int, depth: int) -> str:
    return " / ".join(presets_of_size(embed_dim, depth)) or f"an unknown size (embed_dim {embed_dim}, {depth} blocks)"


def load_fitting_state(
    model: nn.Module,
    state: dict[str, Tensor],
    source: str,
    network: str = "the network it describes",
    may_miss: Callable[[str], bool] = lambda key: False,
) -> None:
    """Load ``state`` into ``model``, or raise a CheckpointError naming ``source`` where a tensor is of another
    shape, unexpected, or missing (keys for which ``may_miss`` is true may be; ``network``: how the message names
    the model)."""
    misfit = f"{source} does not fit {network}"
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        raise CheckpointError(f"{misfit}: {str(error).splitlines()[-1].strip()}") from error
    missing = [key for key in result.missing_keys if not may_miss(key)]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{misfit}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")


def check_same_size(state: dict[str, Tensor], prefix: str, model: nn.Module, source: str) -> None:
    """Fail early, with both sizes named, when a checkpoint's trunk is not the model's."""
    key = f"{prefix}patch_embed.proj.weight"
    if key not in state:
        raise CheckpointError(f"{source} has no {key}: it is not a SAM2 image-encoder checkpoint")
    theirs = describe_hiera(state, prefix)
    ours = describe_hiera(model.state_dict(), TRUNK.prefix)
    if theirs != ours:
        raise CheckpointError(
            f"{source} holds a Hiera of size {size_name(*theirs)} (embed_dim {theirs[0]}, {theirs[1]} blocks) "
            "but the model "
            f"was built with preset {getattr(model, 'preset', '?')!r} (embed_dim {ours[0]}, {ours[1]} blocks). "
            f"Use the preset that matches the checkpoint, or the checkpoint that matches the preset."
        )


def load_sam2_state(model: nn.Module, content: dict, source: str) -> LoadReport:
    """Load Meta's SAM2/SAM2.1 checkpoint content (``{"model": state_dict}``) into an MGDSAM2 of the same size.

    Names map by the module groups (models/groups.py); anything else in a SAM2 checkpoint (video memory,
    prompt encoder, object pointers) is not part of MGD-SAM2 and is ignored. Groups new in MGD-SAM2 start
    from their initialisation, and so do SAM2 tensors whose shape MGD-SAM2 changed (the mask tokens).
    """
    if not isinstance(content.get("model"), dict):
        raise CheckpointError(
            f"{source} is not a SAM2 checkpoint in Meta's format (a dict with a 'model' state dict); "
            f"its top-level keys are {sorted(content)[:8]}. {SAM2_DOWNLOAD_HINT}"
        )
    state = unwrap_state_dict(content)
    check_same_size(state, TRUNK.sam2_prefix, model, source)
    report = LoadReport(source=source, kind="SAM2")
    own = model.state_dict()
    to_load: dict[str, Tensor] = {}
    for key, value in state.items():
        target = from_sam2_name(key)
        if target is None or target not in own:
            report.ignored.append(key)
        elif own[target].shape != value.shape:
            if not module_group(target).reinitialised:
                raise CheckpointError(
                    f"{source}: {key} has shape {tuple(value.shape)}, "
                    f"the model's {target} has {tuple(own[target].shape)}"
                )
            report.reinitialised.append(target)
        else:
            to_load[target] = value
    report.loaded = sorted(to_load)
    report.missing = sorted(set(own) - set(to_load) - set(report.reinitialised))
    unexpected_missing = [key for key in report.missing if module_group(key).sam2_prefix is not None]
    if unexpected_missing:
        raise CheckpointError(
            f"{source} lacks {len(unexpected_missing)} pretrained tensors the model needs, "
            f"e.g. {unexpected_missing[:5]}; "
            "the file is incomplete or not a SAM2 image model checkpoint."
        )
    model.load_state_dict(to_load, strict=False)
    return report


# The released code's module names -> ours, applied in order to the key suffix after the prefix.
OFFICIAL_RENAMES: list[tuple[str, str | Callable[[re.Match], str]]] = [
    # MCEM
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.attention\.0\.", "decoder.mcem.to_global."),
    (
        r"^sam_mask_decoder\.new_multifieldcrossatt\.attention\.(\d+)\.",
        lambda m: f"decoder.mcem.to_local.{int(m.group(1)) - 1}.",
    ),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.norm1\.", "decoder.mcem.global_norm1."),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.norm2\.", "decoder.mcem.global_norm2."),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.mlp1\.", "decoder.mcem.global_mlp."),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.norm3\.", "decoder.mcem.local_norm1."),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.norm4\.", "decoder.mcem.local_norm2."),
    (r"^sam_mask_decoder\.new_multifieldcrossatt\.mlp2\.", "decoder.mcem.local_mlp."),
    # HMIM: new_fusion2 works on stride 8, new_fusion1 on stride 4
    (r"^sam_mask_decoder\.new_fusion2\.", "decoder.hmim_s8."),
    (r"^sam_mask_decoder\.new_fusion1\.", "decoder.hmim_s4."),
    (r"^(decoder\.hmim_s\d)\.locpre2glb\.", r"\1.prior_to_global."),
    (r"^(decoder\.hmim_s\d)\.fuse1\.", r"\1.global_fuse."),
    (r"^(decoder\.hmim_s\d)\.glb2loc\.", r"\1.global_to_local."),
    (r"^(decoder\.hmim_s\d)\.fuse2\.", r"\1.local_fuse."),
    (r"^(decoder\.hmim_s\d)\.fuse3\.", r"\1.out."),
    # DRM
    (r"^detail_enhance\.img_in_conv\.", "drm.image_stem."),
    (r"^detail_enhance\.img_er\.linear\.", "drm.image_enhance.reduce."),
    (r"^detail_enhance\.img_er\.conv([123])\.", lambda m: f"drm.image_enhance.branches.{int(m.group(1)) - 1}."),
    (r"^detail_enhance\.img_er\.projector\.", "drm.image_enhance.project."),
    (r"^detail_enhance\.fusion_feature_bn\.", "drm.view_fusion_norm."),
    (r"^detail_enhance\.fusion_feature\.", "drm.view_fusion."),
    (r"^detail_enhance\.feature_upsample2\.", "drm.up1."),
    (r"^detail_enhance\.feature_upsample3\.", "drm.up2."),
    (r"^detail_enhance\.fusion_conv\.", "drm.head."),
    (r"^detail_enhance\.out_conv\.", "drm.out_conv."),
    # prompt-free inputs live in our decoder
    (r"^no_mask_embed\.", "decoder.no_mask_embed."),
    (r"^pe_layer\.", "decoder.pe_layer."),
    # everything else keeps SAM2's names under our prefixes
    (r"^image_encoder\.trunk\.", "encoder.trunk."),
    (r"^image_encoder\.neck\.", "encoder.neck."),
    (r"^sam_mask_decoder\.", "decoder."),
]
# Released keys that their forward never reaches (official_mgdsam2_notes.md): dropped on conversion.
OFFICIAL_UNUSED = re.compile(
    r"^image_encoder\.trunk\.mpadapter\.shared_mlp\d\.|^sam_mask_decoder\.(iou_prediction_head|pred_obj_score_head)\."
)
OFFICIAL_ADAPTER = re.compile(
    r"^image_encoder\.trunk\.mpadapter\.lightweight_mlp(\d+)_(\d+)\.(0|1\.dwconv_loc|1\.dwconv_glb|3)\.(weight|bias)$"
)
ADAPTER_PARTS = {"0": "down", "1.dwconv_loc": "local_fuse", "1.dwconv_glb": "global_fuse", "3": "up"}


def adapter_groups(model: nn.Module) -> list[list[int]]:
    """Block indices grouped by input width, coarse to fine as the released code numbers them (group 1 = first)."""
    groups: dict[int, list[int]] = {}
    for index, block in enumerate(model.encoder.trunk.blocks):
        groups.setdefault(block.dim, []).append(index)
    return list(groups.values())


def convert_official_state_dict(state: dict[str, Tensor], model: nn.Module) -> tuple[dict[str, Tensor], list[str]]:
    """Released MGD-SAM2 keys -> ours. Returns (converted state, dropped keys that their forward never uses)."""
    groups = adapter_groups(model)
    converted: dict[str, Tensor] = {}
    dropped: list[str] = []
    for key, value in state.items():
        if OFFICIAL_UNUSED.match(key):
            dropped.append(key)
            continue
        adapter = OFFICIAL_ADAPTER.match(key)
        if adapter:
            group, position, part, kind = adapter.groups()
            blocks = groups[int(group) - 1] if int(group) <= len(groups) else []
            if int(position) >= len(blocks):  # the released code builds one spare adapter per group
                dropped.append(key)
                continue
            converted[f"encoder.adapters.{blocks[int(position)]}.{ADAPTER_PARTS[part]}.{kind}"] = value
            continue
        new_key = key
        for pattern, replacement in OFFICIAL_RENAMES:
            new_key = re.sub(pattern, replacement, new_key)
        if new_key == key:
            raise CheckpointError(f"unexpected key {key!r} in MGD-SAM2 released weights")
        converted[new_key] = value
    return converted, dropped


def load_official_state(model: nn.Module, state: dict[str, Tensor], source: str) -> LoadReport:
    """Load the authors' released MGD-SAM2 weights (converted to our names) strictly into a full MGDSAM2 built as
    they were (``RELEASED_PRESET``'s global attention blocks)."""
    check_same_size(state, TRUNK.sam2_prefix, model, source)
    theirs, ours = get_preset(RELEASED_PRESET).global_att_blocks, model.config.resolved().global_att_blocks
    if tuple(ours) != tuple(theirs):  # the same parameters, so the load alone would succeed: other masks, said nowhere
        raise CheckpointError(
            f"{source} holds the released MGD-SAM2 weights, trained as preset {RELEASED_PRESET} (global attention in "
            f"Hiera blocks {list(theirs)}); the network built (preset {model.preset}) has the same parameters but "
            f"global attention in blocks {list(ours)}, so these weights would compute other masks there. Build "
            f"{RELEASED_PRESET}: --model.network.preset {RELEASED_PRESET} (fit, test), --preset {RELEASED_PRESET} "
            "(model load); weights trained as another preset (predict --weights) go with the SAM2.1 checkpoint they "
            "started from"
        )
    converted, dropped = convert_official_state_dict(state, model)
    load_fitting_state(model, converted, source, "the model (all modules must be on to load released weights)")
    return LoadReport(source=source, kind="released MGD-SAM2", loaded=sorted(converted), ignored=sorted(dropped))


def refuse_mismatched_start(preset: str, path: str | Path) -> None:
    """A one-line error, before the file is read, where ``path`` (model.pretrained) cannot start ``preset``: micro has
    no SAM2.1 weights (a training run's .ckpt only); a missing SAM2.1 file of another size's name names this
    preset's."""
    expected = get_preset(preset).sam2_checkpoint
    if expected is None and Path(path).suffix != ".ckpt":
        raise ConfigError(
            f"model.pretrained {path}: preset {preset} has no SAM2.1 weights to start from (random, for tests and the "
            "demo); set --model.pretrained null, give a training run's .ckpt, or choose a SAM2.1 size (tiny, small, "
            "base_plus, large)"
        )
    name = Path(path).name
    if not Path(path).exists() and name.startswith("sam2") and name != expected:
        raise MissingFileError(
            f"model.pretrained {path}: no such file, and preset {preset} starts from {expected}, not {name}: "
            f"--model.pretrained checkpoints/{expected}. {SAM2_DOWNLOAD_HINT}"
        )


def run_network_state(content: dict) -> dict[str, Tensor]:
    """The network's tensors in a Lightning checkpoint of this project's training, under the network's own names."""
    state = content["state_dict"]
    return {key.removeprefix(MODULE_PREFIX): value for key, value in state.items() if key.startswith(MODULE_PREFIX)}


def saved_network_config(saved: dict, source: str | Path) -> NetworkConfig:
    """The network settings stored with weights: ``{"network": {...}}``, or the flat hyperparameters
    (``preset``, ``grid``, ...) that earlier versions of this project stored."""
    from mgd_sam2.models.network import NetworkConfig  # its modules import sam2: not at this module's import

    if isinstance(saved.get("network"), dict):
        return NetworkConfig.from_dict(saved["network"])
    if "preset" in saved:
        names = {each.name for each in fields(NetworkConfig)}
        return NetworkConfig.from_dict({key: value for key, value in saved.items() if key in names})
    raise CheckpointError(f"{source} holds no MGD-SAM2 network settings (no 'network' or 'preset' entry)")


def load_run_state(model: nn.Module, content: dict, source: str) -> LoadReport:
    """A training run's Lightning checkpoint as a new fit's start (a fine-tune on other data): its network's weights,
    without its optimizer state or schedule, into a network of the same preset."""
    preset = saved_network_config(content["hyper_parameters"], source).preset
    if preset != model.preset:
        raise CheckpointError(
            f"{source} is a training run of preset {preset}, and the network built is preset {model.preset}: "
            f"--model.network.preset {preset} (fit), --preset {preset} (model load)"
        )
    state = run_network_state(content)
    load_fitting_state(model, state, source, f"the network built (preset {model.preset})")
    return LoadReport(source=source, kind="training run's", loaded=sorted(state))


def load_pretrained(model: nn.Module, path: str | Path, content: dict | None = None) -> LoadReport:
    """Load a SAM2/SAM2.1 checkpoint, the authors' released MGD-SAM2 weights or a training run's Lightning checkpoint,
    told apart by their keys; ``content``: the file as `read_weights_file` read it already (else it is read here)."""
    content = read_weights_file(path) if content is None else content
    kind = weights_kind(content)
    if kind == "released":
        return load_official_state(model, unwrap_state_dict(content), str(path))
    if kind == "sam2":
        return load_sam2_state(model, content, str(path))
    if kind == "lightning":
        return load_run_state(model, content, str(path))
    if kind in WEIGHTS_USE:
        raise CheckpointError(
            f"{path} is {WEIGHTS_USE[kind]}. Starting weights (`model load`, model.pretrained) are a SAM2.1 "
            "checkpoint, the authors' released MGD-SAM2 weights or a training run's .ckpt."
        )
    raise CheckpointError(
        f"{path} is neither a SAM2/SAM2.1 checkpoint (keys image_encoder.trunk.*) nor released MGD-SAM2 weights; "
        f"its first keys are {sorted(unwrap_state_dict(content))[:5]}. {SAM2_DOWNLOAD_HINT}"
    )
