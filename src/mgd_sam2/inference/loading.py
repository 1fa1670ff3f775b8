"""Building a ready-to-run MGDSAM2 network from any weights a user has.

Accepted: a Lightning checkpoint of a training run (it carries the network config); the authors'
released MGD-SAM2 weights (base_plus_official is built for them); a SAM2/SAM2.1 checkpoint plus a
trained-weights file written by ``mgd-sam2 model export`` (the small file of everything but the
frozen trunk); a model folder (inference/model_folder.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from mgd_sam2.errors import MissingFileError
from mgd_sam2.inference.backends import openvino_has_bf16, recorded_precision, require_openvino_bf16
from mgd_sam2.inference.export_formats import EXPORT_BACKENDS
from mgd_sam2.models.checkpoints import (
    TORCH_SAVE_SUFFIXES,
    TRAINED_WEIGHTS_FORMAT,
    WEIGHTS_USE,
    CheckpointError,
    describe_hiera,
    is_safetensors,
    load_fitting_state,
    load_official_state,
    load_sam2_state,
    load_torch_file,
    presets_of_size,
    read_weights_file,
    run_network_state,
    saved_network_config,
    unwrap_state_dict,
    weights_kind,
)
from mgd_sam2.models.finite import require_finite
from mgd_sam2.models.groups import TRUNK
from mgd_sam2.models.network import MGDSAM2, NetworkConfig
from mgd_sam2.models.presets import RELEASED_PRESET
from mgd_sam2.utils.files import atomic_path, file_digest


def export_trained_weights(network: MGDSAM2, path: str | Path) -> int:
    """Write every tensor but a frozen Hiera trunk (it comes from the SAM2 checkpoint), with the network config and
    the frozen trunk's `trunk_digest` (a load with another start is refused); returns the number of tensors.

    A safetensors file (no pickle) whose header holds the format, the network config as JSON and the digest; a path
    ending in .pt or .pth gets the earlier torch.save format instead.
    """
    path = Path(path)
    trunk = network.config.train_trunk
    state = {key: value.contiguous() for key, value in network.state_dict().items()
             if trunk or not key.startswith(TRUNK.prefix)}  # fmt: skip
    paired = {} if trunk else {"trunk": trunk_digest(network)}  # the start it pairs with, told by its trunk's values
    with atomic_path(path) as temporary:
        if path.suffix in TORCH_SAVE_SUFFIXES:
            content = {"format": TRAINED_WEIGHTS_FORMAT, "network": network.config.to_dict(), **paired}
            torch.save({**content, "state_dict": state}, temporary)
        else:
            from safetensors.torch import save_file

            metadata = {"format": TRAINED_WEIGHTS_FORMAT, "network": json.dumps(network.config.to_dict()), **paired}
            save_file(state, str(temporary), metadata=metadata)
    return len(state)


def trunk_digest(network: MGDSAM2) -> str:
    """``"sha256:<hex>"`` of the Hiera trunk's tensors (names, types, shapes and bytes, in name order): a frozen
    trunk's is that of the start it was loaded from, whatever file format held it."""
    digest = hashlib.sha256()
    for key, value in sorted(network.state_dict().items()):
        if key.startswith(TRUNK.prefix):
            digest.update(f"{key} {value.dtype} {tuple(value.shape)};".encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return f"sha256:{digest.hexdigest()}"


def weights_digests(ckpt: str | Path, weights: str | Path | None = None) -> list[str]:
    """The SHA-256 digest of each weights file (`file_digest`; both files of a model folder, an OpenVINO .xml's .bin
    too): recorded with predictions, so outputs made with other weights are told apart by the files' bytes, and a
    shared mask names no path of the machine that made it."""
    from mgd_sam2.inference.model_folder import CONFIG_FILE, WEIGHTS_FILE

    files = [Path(ckpt)] + ([Path(weights)] if weights is not None else [])
    if Path(ckpt).is_dir():  # a model folder
        files = [Path(ckpt) / CONFIG_FILE, Path(ckpt) / WEIGHTS_FILE]
    elif Path(ckpt).suffix == ".xml":  # OpenVINO IR: the graph, and its weights beside it
        files.insert(1, Path(ckpt).with_suffix(".bin"))
    return [file_digest(path) for path in files if path.is_file()]


def trained_weights_config(content: dict, source: str | Path) -> NetworkConfig:
    """The network settings of a `model export --out` file (under "hparams" in earlier exports)."""
    return saved_network_config(content.get("hparams", content), source)


def weights_network(content: dict, path: str | Path) -> tuple[NetworkConfig, str]:
    """The network the weights file ``path`` (its ``content``, `read_weights_file`'s) goes in, and why: the released
    weights' preset, a training run's or an export's own network, or the preset of a SAM2 checkpoint's size (the
    first of that size: base_plus for Hiera-B+)."""
    kind = weights_kind(content)
    if kind == "released":
        return NetworkConfig(preset=RELEASED_PRESET), "the released weights' preset"
    if kind == "lightning":
        return saved_network_config(content["hyper_parameters"], path), "the training run's network"
    if kind == "trained":
        return trained_weights_config(content, path), "the network the weights were trained in"
    if kind == "sam2":
        if presets := presets_of_size(*describe_hiera(unwrap_state_dict(content), TRUNK.sam2_prefix)):
            return NetworkConfig(preset=presets[0]), "the checkpoint's size"
    return NetworkConfig(), "the default"


def network_from_lightning(content: dict, source: str | Path) -> MGDSAM2:
    """The network of a Lightning checkpoint of this project's training."""
    network = MGDSAM2(saved_network_config(content["hyper_parameters"], source))
    load_fitting_state(network, run_network_state(content), str(source), "the network its hyperparameters describe")
    return network


def training_record(ckpt: str | Path) -> str | None:
    """What a Lightning checkpoint of a training run says of its training, in one sentence (optimizer steps, training
    splits, batch, learning rate, the best monitored score of its validations up to this checkpoint), or what a model
    folder saved from one kept of it; None for any other weights."""
    from mgd_sam2.data.layouts import split_label
    from mgd_sam2.inference.model_folder import folder_kept, is_model_folder

    path = Path(ckpt)
    if is_model_folder(path):
        return folder_kept(path, "training")
    if not path.is_file() or is_safetensors(path):
        return None
    content = load_torch_file(path, mmap=True)  # the tensors mapped, not read
    if weights_kind(content) != "lightning":
        return None
    data, model = content.get("datamodule_hyper_parameters") or {}, content.get("hyper_parameters") or {}
    sentence = f"{content.get('global_step', 0)} optimizer steps (epoch {content.get('epoch', 0)}, counted from 0)"
    if data.get("train"):
        sentence += f" on {', '.join(split_label(spec) for spec in data['train'])}"
    if data.get("batch_size"):
        sentence += f", batch {data['batch_size']} per process"
    if model.get("lr") is not None:
        sentence += f", learning rate {model['lr']:g}"
    callbacks = (content.get("callbacks") or {}).values()
    best = [
        (state["monitor"], float(state["best_model_score"]))
        for state in callbacks
        if isinstance(state, dict) and state.get("monitor") and state.get("best_model_score") is not None
    ]
    best = [(monitor, score) for monitor, score in best if math.isfinite(score)]  # Lightning stores NaN as +-inf
    if best:
        first = f" (the first validation split, {split_label(data['val'][0])})" if data.get("val") else ""
        sentence += "; the best of its validations up to this checkpoint" + first + ": "
        sentence += ", ".join(f"{monitor} {score:.4f}" for monitor, score in best)
    return sentence + "."


def load_network(ckpt: str | Path, weights: str | Path | None = None) -> tuple[MGDSAM2, str]:
    """(network in eval mode, a one-line description of what was loaded); a one-line error for weights holding NaN
    or infinite values (a diverged run's), which would give all-black masks. Every use of weights for inference
    (predict, export, the app, benchmarks) loads them here."""
    network, description = build_network(ckpt, weights)
    files = f"{ckpt}" + (f" with --weights {weights}" if weights is not None else "")
    require_finite(network.state_dict().items(), files)
    return network, description


@dataclass(frozen=True)
class CheckpointSource:
    """Weights to load in another process (inference/export_steps.py): ``load_network``'s arguments."""

    ckpt: Path
    weights: Path | None = None

    def load(self) -> MGDSAM2:
        return load_network(self.ckpt, self.weights)[0]


def build_network(ckpt: str | Path, weights: str | Path | None = None) -> tuple[MGDSAM2, str]:
    """(network in eval mode, a one-line description) of any weights predict takes, as they are."""
    from mgd_sam2.inference.model_folder import WEIGHTS_FILE, is_model_folder, load_model_folder

    if is_model_folder(ckpt):
        if weights is not None:
            raise CheckpointError(f"{ckpt} is a model folder that holds every weight; drop --weights")
        return load_model_folder(ckpt)
    content = read_weights_file(ckpt)
    kind = weights_kind(content)
    if kind == "lightning":
        if weights is not None:
            raise CheckpointError(
                f"{ckpt} is a complete Lightning checkpoint; --weights goes with a SAM2.1 checkpoint or the released "
                "weights"
            )
        network = network_from_lightning(content, ckpt)
        return network.eval(), f"Lightning checkpoint {ckpt} ({network.described})"
    if kind == "released" and weights is None:
        network = MGDSAM2(NetworkConfig(preset=RELEASED_PRESET))
        report = load_official_state(network, unwrap_state_dict(content), str(ckpt))
        return network.eval(), f"{report.summary()}; {network.described}"
    if kind == "trained":
        config = trained_weights_config(content, ckpt)
        if weights is not None or not config.train_trunk:
            raise CheckpointError(f"--ckpt {ckpt} is {WEIGHTS_USE[kind]}")
        network = MGDSAM2(config)  # its trunk trained too (the demo's micro model): the file holds every weight
        load_fitting_state(network, content["state_dict"], str(ckpt))
        return network.eval(), f"trained weights {ckpt}, trunk included ({network.described})"
    if kind == "unknown":
        if Path(ckpt).name == WEIGHTS_FILE and is_model_folder(Path(ckpt).parent):
            raise CheckpointError(f"{ckpt} is the weights of the model folder {Path(ckpt).parent}: give the folder")
        raise CheckpointError(
            f"{ckpt} is none of the weights predict takes (a training run's .ckpt, the released MGD-SAM2 weights, "
            f"or a SAM2.1 checkpoint with --weights); its first keys are {sorted(unwrap_state_dict(content))[:5]}"
        )
    if weights is None:
        raise CheckpointError(
            f"{ckpt} is a SAM2 checkpoint without trained MGD-SAM2 parts: use a Lightning checkpoint of a training run "
            "or the released MGD-SAM2 weights, or (predict) add the trained weights of `mgd-sam2 model export` "
            "with --weights"
        )
    trained = read_weights_file(weights)
    if (given := weights_kind(trained)) != "trained":
        use = {**{kind: f": it is {text}" for kind, text in WEIGHTS_USE.items()},
               "released": ", but the released MGD-SAM2 weights: give them as --ckpt"}.get(given, "")  # fmt: skip
        raise CheckpointError(
            f"--weights {weights} is not a trained-weights file written by `mgd-sam2 model export`{use}"
        )
    network = MGDSAM2(trained_weights_config(trained, weights))
    if kind == "released":  # the start of a fine-tune from them: its frozen trunk, and the parts the weights replace
        report = load_official_state(network, unwrap_state_dict(content), str(ckpt))
    else:
        report = load_sam2_state(network, content, str(ckpt))
    trained_trunk = network.config.train_trunk  # then the trunk is in the weights file, not the SAM2 checkpoint's
    if not trained_trunk and (recorded := trained.get("trunk")) and recorded != trunk_digest(network):
        raise CheckpointError(
            f"--weights {weights} were trained on another frozen Hiera trunk than --ckpt {ckpt} holds (another "
            "checkpoint of the same size, or another version of it), so the masks would be wrong: give as --ckpt the "
            "SAM2 checkpoint the run started from (its model.pretrained; where that was another run's .ckpt, the one "
            "that run started from)"
        )
    load_fitting_state(
        network,
        trained["state_dict"],
        str(weights),
        may_miss=lambda key: not trained_trunk and key.startswith(TRUNK.prefix),
    )
    return network.eval(), f"{report.kind} trunk from {ckpt} + trained weights from {weights} ({network.described})"


def refuse_export_stem(ckpt: str | Path) -> None:
    """A MissingFileError naming the files `model export --fastest` wrote where ``ckpt``, which does not exist,
    is their stem or another of their names (``model`` for ``model_int8.xml``, or ``model_int8.onnx``)."""
    from mgd_sam2.inference.fastest import export_stem, stem_files

    path = Path(ckpt)
    if path.exists():
        return
    written = [str(file) for file in stem_files(export_stem(path)).values() if file.is_file()]
    if written:
        raise MissingFileError(f"weights file not found: {ckpt}; `model export --fastest` wrote {', '.join(written)}: "
                               "give one of them")  # fmt: skip


def backend_name(ckpt: str | Path, backend: str = "auto") -> str:
    """The backend that runs ``ckpt``: ``backend`` unless auto, which is onnx for a .onnx file, openvino for an
    OpenVINO IR .xml (``model export --openvino-int8``), else torch."""
    if backend != "auto":
        return backend
    return EXPORT_BACKENDS.get(Path(ckpt).suffix, "torch")


def check_exported_flags(runs: str, ckpt: str | Path, weights: str | Path | None, device: str, precision: str) -> None:
    """One-line errors for flags an exported backend (``runs``: onnx or openvino) cannot honour: another file than
    an export (.onnx; for openvino also the .xml of --openvino-int8), a GPU, bf16 in ONNX Runtime or on a CPU
    where OpenVINO has no native bf16."""
    suffixes = tuple(EXPORT_BACKENDS) if runs == "openvino" else (".onnx",)
    if Path(ckpt).suffix not in suffixes:
        files = " or .xml (--openvino-int8)" if runs == "openvino" else ""
        raise CheckpointError(f"--backend {runs} runs a .onnx file{files} from `mgd-sam2 model export`, got {ckpt}")
    if weights is not None:
        raise CheckpointError(
            f"{ckpt} is an export that holds every weight; --weights goes with a SAM2.1 checkpoint or the released "
            "weights"
        )
    if device == "cuda":
        raise CheckpointError(f"the {runs} backend runs on the CPU; use --backend torch for a GPU")
    if precision == "bf16-mixed" and runs == "onnx":
        raise CheckpointError(
            "the onnx backend runs in fp32 (or the int8 file's precision); bf16 on a CPU with native bf16: "
            "--backend openvino"
        )
    if precision == "bf16-mixed":
        require_openvino_bf16()


def exported_precision(runs: str, ckpt: str | Path, precision: str) -> str:
    """The precision an exported backend (``runs``) runs ``ckpt`` in: ``precision`` unless auto, which is the one
    ``model export --fastest`` recorded in an OpenVINO .xml where OpenVINO has native bf16 here, else 32-true."""
    if precision != "auto":
        return precision
    if runs == "openvino" and recorded_precision(ckpt) == "bf16-mixed" and openvino_has_bf16():
        return "bf16-mixed"
    return "32-true"
