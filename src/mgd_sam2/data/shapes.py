"""Object families of the synthetic dataset: exact binary masks of the kinds of objects DIS5K holds.

Each family draws one object into a uint8 mask (255 = object), aliased so the mask is exact, from the
``rng`` it is given. Kinds: meshed (lattice, fence, wheel, web), thin (tree, cables, hair), hollow (holey,
chair frames) and solid (blob, chair seats, plant leaves). The dataset (data/synth.py) keeps some
families out of training to test transfer.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

Rng = np.random.Generator


def lattice(rng: Rng, mask: np.ndarray) -> None:
    """A wire-tower-like frame with a mesh of bars inside: many holes, thin bars."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    rw, rh = rng.uniform(0.15, 0.4) * width, rng.uniform(0.2, 0.45) * height
    corners = np.array([[-rw, -rh], [rw, -rh], [rw, rh], [-rw, rh]]) * rng.uniform(0.8, 1.2, (4, 2)) + (cx, cy)
    if rng.random() < 0.5:  # tapering tower
        corners[:2, 0] = cx + (corners[:2, 0] - cx) * rng.uniform(0.2, 0.6)
    corners = corners.astype(np.int32)
    region = np.zeros_like(mask)
    cv2.fillPoly(region, [corners], 255)
    bars = np.zeros_like(mask)
    spacing, bar = int(rng.integers(18, 70)), int(rng.integers(2, 6))
    x0, x1, y0, y1 = corners[:, 0].min(), corners[:, 0].max(), corners[:, 1].min(), corners[:, 1].max()
    for x in range(x0, x1, spacing):
        cv2.line(bars, (x, y0), (x, y1), 255, bar)
    for y in range(y0, y1, spacing):
        cv2.line(bars, (x0, y), (x1, y), 255, bar)
    if rng.random() < 0.6:  # diagonal bracing
        for offset in range(-(y1 - y0), x1 - x0, 2 * spacing):
            cv2.line(bars, (x0 + offset, y0), (x0 + offset + (y1 - y0), y1), 255, max(1, bar - 1))
    mask |= bars & region
    cv2.polylines(mask, [corners], True, 255, int(rng.integers(4, 12)))


def tree(rng: Rng, mask: np.ndarray) -> None:
    """Recursive branches whose thickness halves every two levels, ending in 1 px twigs."""
    height, width = mask.shape

    def branch(x: float, y: float, angle: float, length: float, thickness: float, depth: int) -> None:
        x2, y2 = x + length * np.cos(angle), y + length * np.sin(angle)
        cv2.line(mask, (int(x), int(y)), (int(x2), int(y2)), 255, max(1, int(round(thickness))))
        if depth == 0:
            return
        for _ in range(int(rng.integers(2, 4))):
            branch(x2, y2, angle + rng.uniform(-0.7, 0.7), length * rng.uniform(0.6, 0.8), thickness * 0.7, depth - 1)

    branch(
        rng.uniform(0.3, 0.7) * width,
        height * rng.uniform(0.85, 1.0),
        -np.pi / 2 + rng.uniform(-0.3, 0.3),
        height * rng.uniform(0.18, 0.28),
        rng.uniform(10, 24),
        int(rng.integers(5, 7)),
    )


def hair(rng: Rng, mask: np.ndarray) -> None:
    """A head (filled ellipse) with hundreds of curved 1-2 px strands around it."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    ax, ay = rng.uniform(0.08, 0.16) * width, rng.uniform(0.1, 0.2) * height
    cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 255, -1)
    t = np.linspace(0, 1, 24)[:, None]
    for _ in range(int(rng.integers(150, 400))):
        theta = rng.uniform(0, 2 * np.pi)
        start = np.array([cx + ax * np.cos(theta), cy + ay * np.sin(theta)])
        outward = np.array([np.cos(theta), np.sin(theta)])
        length = rng.uniform(0.5, 1.6) * max(ax, ay)
        bend = rng.normal(0, 0.5, 2) * length
        control, end = start + outward * length * 0.5 + bend, start + outward * length + bend * 1.5
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
        cv2.polylines(mask, [curve.astype(np.int32)], False, 255, int(rng.integers(1, 3)))


def holey(rng: Rng, mask: np.ndarray) -> None:
    """A solid shape with punched holes and a ring: topology with many inner boundaries."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
    radius = rng.uniform(0.15, 0.3) * min(height, width)
    polygon = np.stack(
        [
            cx + radius * rng.uniform(0.7, 1.3, len(angles)) * np.cos(angles),
            cy + radius * rng.uniform(0.7, 1.3, len(angles)) * np.sin(angles),
        ],
        axis=1,
    ).astype(np.int32)
    shape = np.zeros_like(mask)
    cv2.fillPoly(shape, [polygon], 255)
    for _ in range(int(rng.integers(3, 12))):
        hole = (int(cx + rng.normal(0, radius / 3)), int(cy + rng.normal(0, radius / 3)))
        cv2.circle(shape, hole, int(rng.uniform(0.03, 0.12) * radius + 2), 0, -1)
    cv2.circle(shape, (int(cx), int(cy)), int(radius * 1.45), 255, int(rng.integers(3, 9)))
    mask |= shape


def cables(rng: Rng, mask: np.ndarray) -> None:
    """Two poles with 2-5 sagging cables of 1-3 px between them."""
    height, width = mask.shape
    left, right = rng.uniform(0.05, 0.3) * width, rng.uniform(0.7, 0.95) * width
    top = rng.uniform(0.15, 0.4) * height
    for x in (left, right):
        cv2.rectangle(mask, (int(x) - 6, int(top)), (int(x) + 6, height - 1), 255, -1)
    xs = np.linspace(left, right, 200)
    middle, half = (left + right) / 2, (right - left) / 2
    for _ in range(int(rng.integers(2, 6))):
        anchor, sag = top + rng.uniform(0, 0.2) * height, rng.uniform(0.02, 0.25) * height
        ys = anchor + sag * (1 - ((xs - middle) / half) ** 2)  # lowest in the middle
        cv2.polylines(mask, [np.stack([xs, ys], axis=1).astype(np.int32)], False, 255, int(rng.integers(1, 4)))


def chair(rng: Rng, mask: np.ndarray) -> None:
    """A chair or stool: a solid seat, an optional back with slats, thin legs and rungs."""
    height, width = mask.shape
    cx, seat_y = rng.uniform(0.35, 0.65) * width, rng.uniform(0.45, 0.6) * height
    half, depth = rng.uniform(0.12, 0.25) * width, rng.uniform(0.03, 0.07) * height
    leg = max(2, int(rng.uniform(0.006, 0.02) * width))
    floor = rng.uniform(0.85, 0.97) * height
    cv2.rectangle(mask, (int(cx - half), int(seat_y)), (int(cx + half), int(seat_y + depth)), 255, -1)
    for x in (cx - half * 0.9, cx + half * 0.9, cx - half * 0.6, cx + half * 0.6)[: int(rng.integers(2, 5))]:
        cv2.line(mask, (int(x), int(seat_y + depth)), (int(x + rng.normal(0, half * 0.05)), int(floor)), 255, leg)
    rung_y = int(seat_y + depth + (floor - seat_y - depth) * rng.uniform(0.4, 0.7))
    cv2.line(mask, (int(cx - half * 0.9), rung_y), (int(cx + half * 0.9), rung_y), 255, max(1, leg // 2))
    if rng.random() < 0.7:  # a back: two posts and slats
        top = seat_y - rng.uniform(0.2, 0.35) * height
        for x in (cx - half * 0.9, cx + half * 0.9):
            cv2.line(mask, (int(x), int(seat_y)), (int(x), int(top)), 255, leg)
        for y in np.linspace(top, seat_y - depth, int(rng.integers(2, 6))):
            cv2.line(mask, (int(cx - half * 0.9), int(y)), (int(cx + half * 0.9), int(y)), 255, max(1, leg // 2))


def wheel(rng: Rng, mask: np.ndarray) -> None:
    """One or two spoked wheels joined by a frame: rings, a hub, 1-2 px spokes."""
    height, width = mask.shape
    radius = rng.uniform(0.12, 0.22) * min(height, width)
    y = rng.uniform(0.4, 0.7) * height
    centres = [rng.uniform(0.25, 0.4) * width, rng.uniform(0.6, 0.75) * width][: int(rng.integers(1, 3))]
    rim = max(2, int(radius * rng.uniform(0.04, 0.1)))
    for x in centres:
        cv2.circle(mask, (int(x), int(y)), int(radius), 255, rim)
        cv2.circle(mask, (int(x), int(y)), max(2, int(radius * 0.08)), 255, -1)
        for angle in np.linspace(0, 2 * np.pi, int(rng.integers(12, 36)), endpoint=False):
            end = (int(x + radius * np.cos(angle)), int(y + radius * np.sin(angle)))
            cv2.line(mask, (int(x), int(y)), end, 255, int(rng.integers(1, 3)))
    if len(centres) == 2:
        apex = (int(sum(centres) / 2), int(y - radius * rng.uniform(0.8, 1.3)))
        for x in centres:
            cv2.line(mask, (int(x), int(y)), apex, 255, rim + 1)


def plant(rng: Rng, mask: np.ndarray) -> None:
    """A potted plant: a solid pot, thin stems and solid leaves along them."""
    height, width = mask.shape
    cx, base = rng.uniform(0.35, 0.65) * width, rng.uniform(0.8, 0.95) * height
    pot_w, pot_h = rng.uniform(0.06, 0.14) * width, rng.uniform(0.08, 0.16) * height
    pot = np.array(
        [[cx - pot_w, base - pot_h], [cx + pot_w, base - pot_h], [cx + pot_w * 0.7, base], [cx - pot_w * 0.7, base]],
        np.int32,
    )
    cv2.fillPoly(mask, [pot], 255)
    for _ in range(int(rng.integers(3, 9))):
        angle = -np.pi / 2 + rng.uniform(-0.9, 0.9)
        length = rng.uniform(0.25, 0.6) * height
        t = np.linspace(0, 1, 30)[:, None]
        start = np.array([cx + rng.normal(0, pot_w * 0.3), base - pot_h])
        bend = rng.normal(0, 0.15, 2) * length
        end = start + length * np.array([np.cos(angle), np.sin(angle)]) + bend
        stem = (1 - t) ** 2 * start + 2 * (1 - t) * t * (start + (end - start) * 0.5 + bend) + t**2 * end
        cv2.polylines(mask, [stem.astype(np.int32)], False, 255, int(rng.integers(1, 5)))
        for point in stem[int(rng.integers(8, 16)) :: int(rng.integers(3, 7))]:
            axes = (int(rng.uniform(0.02, 0.06) * height) + 2, int(rng.uniform(0.006, 0.02) * height) + 1)
            cv2.ellipse(mask, tuple(int(v) for v in point), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)


def fence(rng: Rng, mask: np.ndarray) -> None:
    """A fence or gate: pickets (some pointed) held by two or three rails."""
    height, width = mask.shape
    left, right = rng.uniform(0.05, 0.3) * width, rng.uniform(0.7, 0.95) * width
    top, bottom = rng.uniform(0.2, 0.45) * height, rng.uniform(0.75, 0.95) * height
    spacing = int(rng.uniform(0.02, 0.06) * width) + 4
    picket = max(2, int(spacing * rng.uniform(0.2, 0.6)))
    for x in range(int(left), int(right), spacing):
        cv2.line(mask, (x, int(top)), (x, int(bottom)), 255, picket)
        if rng.random() < 0.5:
            tip = np.array([[x - picket, top], [x + picket, top], [x, top - picket * 2]], np.int32)
            cv2.fillPoly(mask, [tip], 255)
    for y in np.linspace(top + (bottom - top) * 0.15, bottom - (bottom - top) * 0.15, int(rng.integers(2, 4))):
        cv2.line(mask, (int(left), int(y)), (int(right), int(y)), 255, max(2, picket))


def blob(rng: Rng, mask: np.ndarray) -> None:
    """A solid smooth body (an animal, a vase, a stone): a noisy closed outline, sometimes with thin limbs."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    radius = rng.uniform(0.15, 0.32) * min(height, width)
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    wobble = np.ones_like(angles)
    for frequency in range(2, 6):
        wobble += rng.normal(0, 0.12 / frequency) * np.cos(frequency * angles + rng.uniform(0, 2 * np.pi))
    outline = np.stack([cx + radius * wobble * np.cos(angles), cy + radius * 0.8 * wobble * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [outline.astype(np.int32)], 255)
    for _ in range(int(rng.integers(0, 5))):  # legs, a tail, antennae
        angle = rng.uniform(0, 2 * np.pi)
        start = (cx + radius * np.cos(angle) * 0.8, cy + radius * 0.8 * np.sin(angle) * 0.8)
        end = (
            start[0] + radius * rng.uniform(0.4, 1.0) * np.cos(angle),
            start[1] + radius * rng.uniform(0.4, 1.0) * np.sin(angle),
        )
        cv2.line(mask, tuple(int(v) for v in start), tuple(int(v) for v in end), 255, max(1, int(radius * 0.05)))


def web(rng: Rng, mask: np.ndarray) -> None:
    """A spider web: radial threads and a spiral, 1-2 px, with a frame."""
    height, width = mask.shape
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    radius = rng.uniform(0.25, 0.42) * min(height, width)
    spokes = np.linspace(0, 2 * np.pi, int(rng.integers(10, 24)), endpoint=False) + rng.uniform(0, 1)
    thickness = int(rng.integers(1, 3))
    for angle in spokes:
        cv2.line(
            mask,
            (int(cx), int(cy)),
            (int(cx + radius * np.cos(angle)), int(cy + radius * np.sin(angle))),
            255,
            thickness,
        )
    turns = np.linspace(0, rng.uniform(8, 20) * 2 * np.pi, 2000)
    r = radius * turns / turns[-1]
    spiral = np.stack([cx + r * np.cos(turns), cy + r * np.sin(turns)], axis=1)
    cv2.polylines(mask, [spiral.astype(np.int32)], False, 255, 1)
    cv2.circle(mask, (int(cx), int(cy)), int(radius), 255, thickness + 1)


OBJECTS: dict[str, Callable[[Rng, np.ndarray], None]] = {
    "lattice": lattice,
    "fence": fence,
    "wheel": wheel,
    "web": web,
    "tree": tree,
    "cables": cables,
    "hair": hair,
    "holey": holey,
    "chair": chair,
    "blob": blob,
    "plant": plant,
}

# Families whose fine parts have widths in pixels, not fractions of the image (1-2 px hair, spokes and web threads,
# 1-3 px cables, 1 px twigs, 1-5 px lattice bars): 1-4 px structures at any image size, e.g. in a 4K image.
THIN_OBJECTS = ("lattice", "wheel", "web", "tree", "cables", "hair")
