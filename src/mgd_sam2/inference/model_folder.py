"""Model folders in the Hugging Face Hub's layout: ``config.json`` (the network's settings), ``model.safetensors``
(every tensor, the trunk included, so the folder stands alone) and ``README.md`` (the model card).

``Segmenter.save_pretrained`` writes one; ``Segmenter.load(folder)`` and ``predict --ckpt folder`` read it. A Hub id
(``owner/name``) is downloaded into the Hub's cache with ``huggingface_hub`` and then read by the same code.
"""

from __future__ import annotations

import json
import numbers
import re
from pathlib import Path
from typing import Any

from mgd_sam2 import __version__
from mgd_sam2.errors import ConfigError
from mgd_sam2.models.checkpoints import CheckpointError, load_fitting_state, weights_format
from mgd_sam2.models.network import MGDSAM2, NetworkConfig
from mgd_sam2.models.presets import get_preset
from mgd_sam2.utils.files import atomic_path, write_json

FOLDER_FORMAT = "mgd-sam2 model folder v1"
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHTS_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".xml", ".bin")  # files, never Hub ids
CITATION = """@article{shen2025mgdsam2,
  title   = {{MGD-SAM2}: Multi-view Guided Detail-enhanced Segment Anything Model 2 for High-Resolution
             Class-agnostic Segmentation},
  author  = {Shen, Haoran and Zhuang, Peixian and Kou, Jiahao and Zeng, Yuxin and Xu, Haoying and Li, Jiangyun},
  journal = {arXiv preprint arXiv:2503.23786},
  year    = {2025}
}"""  # the paper's; CITATION.cff at the repository root says the same for GitHub


def is_model_folder(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def save_model_folder(
    network: MGDSAM2, folder: str | Path, source: str = "", card: dict[str, Any] | None = None
) -> Path:
    """Write ``network`` as a model folder (each file atomically); ``source``: where its weights came from;
    ``card``: ``training`` (a sentence) and ``scores`` ({split: {metric: value}}) for the model card, as
    `check_card` accepts it."""
    from safetensors.torch import save_file

    folder = Path(folder)
    refuse_foreign_files(folder)
    state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as temporary:
        save_file(state, str(temporary), metadata={"format": FOLDER_FORMAT})
    with atomic_path(folder / CARD_FILE) as temporary:
        temporary.write_text(model_card(network, source, card or {}))
    config = network.config.to_dict()
    kept = {"source": source} if source else {}  # kept for a re-save's card, with its training sentence
    kept |= {"training": card["training"]} if (card or {}).get("training") else {}
    write_json(  # last: config.json marks a model folder, so a folder whose weights failed to write is none
        folder / CONFIG_FILE,
        {"format": FOLDER_FORMAT, "network": config, "input_size": network.input_size, "mgd_sam2": __version__,
         **kept},
    )  # fmt: skip
    return folder


def check_card(card: dict[str, Any]) -> None:
    """A ConfigError, before anything is written, for a ``card`` the model card cannot report: keys other than
    ``training`` (a str) and ``scores`` ({split: {metric: number}})."""
    expected = "card: a dict of 'training' (a sentence) and 'scores' ({split: {metric: number}}), got"
    if not isinstance(card, dict):
        raise ConfigError(f"{expected} a {type(card).__name__}")
    if unknown := sorted(map(str, set(card) - {"training", "scores"})):
        raise ConfigError(f"{expected} unknown keys {', '.join(unknown)}")
    if not isinstance(card.get("training", ""), str):
        raise ConfigError(f"card['training']: a sentence (str), got a {type(card['training']).__name__}")
    scores = card.get("scores", {})
    if not isinstance(scores, dict):
        raise ConfigError(f"card['scores']: {{split: {{metric: number}}}}, got a {type(scores).__name__}")
    for split, metrics in scores.items():
        numeric = isinstance(metrics, dict) and all(
            isinstance(value, numbers.Real) and not isinstance(value, bool) for value in metrics.values()
        )
        if not numeric:
            raise ConfigError(f"card['scores']: {{split: {{metric: number}}}}, got {split!r}: {metrics!r}")


def refuse_foreign_files(folder: Path) -> None:
    """A ConfigError where writing a model folder into ``folder`` would replace what this project did not write (a
    file at that path, or a ``config.json``, ``model.safetensors`` or ``README.md`` in a folder that is not a model
    folder of ours) or mix the model with other files (a folder that is not a model folder of ours and holds files
    other than hidden ones: a Hub clone's ``.git`` is fine). One whose ``config.json`` names FOLDER_FORMAT is
    rewritten."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder: give save_pretrained a folder for the model")
    # a save stopped before config.json (written last) left the weights, which record the format too
    ours = FOLDER_FORMAT in (folder_config(folder).get("format"), weights_format(folder / WEIGHTS_FILE))
    taken = [name for name in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE) if (folder / name).exists()]
    if taken and not ours:
        raise ConfigError(
            f"{folder} holds {', '.join(taken)}, not written as a model folder of mgd-sam2: save into another "
            "folder (a model folder's files would replace them)"
        )
    others = sorted(path.name + ("/" if path.is_dir() else "") for path in folder.iterdir()
                    if not path.name.startswith(".")) if folder.is_dir() else []  # fmt: skip
    if others and not ours:  # a folder of photos, say: its files would be mixed with the model's
        raise ConfigError(
            f"{folder} holds {len(others)} other file(s) or folder(s) (e.g. {others[0]}) and is no model folder of "
            "mgd-sam2: save into a new or empty folder"
        )


def model_card(network: MGDSAM2, source: str, card: dict[str, Any]) -> str:
    """The README.md of a model folder: Hub metadata, what the weights are, how to use them, scores, citation."""
    config = network.config
    scores = card.get("scores") or {}
    metrics = sorted({metric for values in scores.values() for metric in values})
    table = ""
    if scores:
        rows = [f"| {split} | " + " | ".join(f"{values.get(m, float('nan')):.4f}" for m in metrics) + " |"
                for split, values in scores.items()]  # fmt: skip
        table = "\n".join(["| split | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|", *rows])
    # a preset with a SAM2.1 size may start from Meta's weights or from random ones (model.pretrained null): the
    # network does not know which; micro has no SAM2.1 size
    sam2_size = get_preset(config.preset).sam2_checkpoint is not None
    licence = (
        "SAM2.1's weights, where it starts from them, are Meta's, Apache-2.0" if sam2_size else "no SAM2.1 weights"
    )
    trunk = "yes" if config.train_trunk else ("no (frozen: SAM2.1's where it started from them)" if sam2_size
                                              else "no (random, frozen)")  # fmt: skip
    return f"""---
license: apache-2.0
library_name: mgd-sam2
pipeline_tag: image-segmentation
tags: [dichotomous-image-segmentation, salient-object-detection, sam2]
---

# MGD-SAM2 ({config.preset})

MGD-SAM2 (arXiv 2503.23786) weights for prompt-free, high-resolution foreground segmentation, written by
mgd-sam2 {__version__}. Source: {source or "not recorded"}.

| preset | input size | local views per side | trunk trained |
|---|---|---|---|
| {config.preset} | {network.input_size} | {network.grid} | {trunk} |

Training: {card.get("training") or "not recorded"}

{f"Scores (at GT resolution, pysodmetrics' definitions):{chr(10) * 2}{table}" if table else "Scores: none recorded."}

## Use

```python
from mgd_sam2 import Segmenter

segmenter = Segmenter.load("this-folder")  # or its Hub id
mask = segmenter.predict("photo.jpg")  # (H, W) uint8
```

`mgd-sam2 predict --ckpt this-folder --input photos/ --output masks/` does the same from the shell.

## Licence and citation

Apache-2.0 (this project's code; {licence}).

```bibtex
{CITATION}
```
"""


def folder_config(folder: Path) -> dict[str, Any]:
    """A folder's ``config.json`` as a dict; empty where it is missing, unreadable or no JSON object."""
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def folder_kept(folder: Path, entry: str) -> str | None:
    """What a model folder's ``config.json`` keeps of the card it was saved with: its ``"training"`` sentence or
    the ``"source"`` of its weights, if any."""
    kept = folder_config(folder).get(entry)
    return kept if isinstance(kept, str) else None


def load_model_folder(folder: str | Path) -> tuple[MGDSAM2, str]:
    """(the network in eval mode, a one-line description) from a model folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError) as error:
        message = f"{folder / CONFIG_FILE} is not readable JSON ({error}); save the folder again"
        raise CheckpointError(message) from error
    if not isinstance(config, dict) or config.get("format") != FOLDER_FORMAT or "network" not in config:
        raise CheckpointError(f"{folder} is not an mgd-sam2 model folder ({CONFIG_FILE} has no {FOLDER_FORMAT!r})")
    try:
        network = MGDSAM2(NetworkConfig.from_dict(config["network"]))
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{folder / CONFIG_FILE}: network settings that cannot be built ({error})") from error
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{folder / WEIGHTS_FILE} cannot be read ({error}); save the folder again") from error
    load_fitting_state(network, state, str(folder / WEIGHTS_FILE), f"the network {CONFIG_FILE} describes")
    return network.eval(), f"model folder {folder} ({network.described})"


def hub_folder(weights: str | Path) -> Path | None:
    """The local folder of a Hub id (``owner/name``) that is not a path here, downloaded on first use; None for
    anything else."""
    path = Path(weights)
    if path.exists() or path.suffix.lower() in WEIGHTS_SUFFIXES or not HUB_ID.match(str(weights)):
        return None  # a file (missing files get the loader's own error, which says where to get them)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as error:
        raise CheckpointError(
            f"{weights} is neither a file or folder here nor loadable: a Hub id needs `pip install huggingface_hub`"
        ) from error
    try:
        return Path(snapshot_download(str(weights), allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE]))
    except Exception as error:  # the Hub's errors (no network, no such repository) are many types
        raise CheckpointError(
            f"{weights}: no such file or folder here (check the path); read as a Hugging Face Hub id, it could not "
            f"be downloaded either ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from error
