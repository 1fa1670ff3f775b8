"""The parts of MGD-SAM2 that profiles and int8 export speak of (trunk, adapters, neck, decoder, MCEM, HMIM, DRM),
by module name: a module, or an exported ONNX node through the module path it records, belongs to one part."""

from __future__ import annotations

# part -> module-name prefixes whose own time it gets (a part nested in another is subtracted from it)
PARTS: dict[str, tuple[str, ...]] = {
    "Hiera trunk": ("encoder.trunk",),
    "MPAdapter": ("encoder.adapters",),
    "FPN neck": ("encoder.neck",),
    "MCEM": ("decoder.mcem",),
    "HMIM": ("decoder.hmim_s8", "decoder.hmim_s4"),
    "SAM2 decoder": ("decoder",),
    "DRM": ("drm",),
}


def part_of(name: str) -> str | None:
    """The part a module (or ONNX node scope) called ``name`` belongs to: the longest matching prefix."""
    best, length = None, -1
    for part, prefixes in PARTS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > length:
                best, length = part, len(prefix)
    return best
