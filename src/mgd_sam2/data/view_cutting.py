"""Multi-view tiling: an image (or a mask) cut into one global view and g x g local views.

The one implementation of the cut: the datasets call it in the loader workers, and prediction (with
each TTA scale), the benchmarks and the exported backends call it on their inputs. The network takes
the result (`Views`) and never cuts views itself.
"""

from __future__ import annotations

from torch import Tensor

from mgd_sam2.models.multi_view import Views, check_input_size, image_to_locals, resize


def tile(x: Tensor, grid: int, global_mode: str = "bilinear") -> Views:
    """(B, C, g*V, g*V) normalised images or masks -> `Views`.

    The global view is the whole input resized by 1/g (``bilinear`` for images, ``nearest`` for
    masks, as released); the locals are the non-overlapping g x g tiles, row-major.
    """
    size = x.shape[-1]
    if x.shape[-2] != size:
        raise ValueError(f"views are cut from square inputs, got {x.shape[-2]}x{size}")
    check_input_size(size, grid)
    local_views = image_to_locals(x, grid).unflatten(0, (x.shape[0], grid * grid))
    return Views(full=x, local_views=local_views, global_view=resize(x, (size // grid, size // grid), global_mode))
