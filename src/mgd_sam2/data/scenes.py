"""Surfaces, backgrounds and the camera for the synthetic dataset: cues that hold in real photos, not a colour code.

Object paint and backgrounds come from the same colour distribution (muted and saturated, dark and
light) and the same surfaces (plain, gradient, noise texture, stripes), so no colour or texture tells
object from background. What does, as in real high-resolution photos: object shape and structure, a
sharp subject in front of a background that is often (not always) defocused, occasionally low contrast,
with lighting across both, occluding clutter in front, sensor noise and JPEG compression.

Every function draws from the ``rng`` it is given, so a sample is a function of its seed alone. Images are
float32 RGB in [0, 255] until `camera` returns uint8.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

Rng = np.random.Generator


def random_colour(rng: Rng) -> np.ndarray:
    """An RGB colour, muted or saturated, dark or light with equal chance: (3,) float32."""
    saturation = rng.uniform(0.0, 0.3) if rng.random() < 0.5 else rng.uniform(0.45, 1.0)
    hsv = np.array([[[rng.uniform(0, 180), saturation * 255, rng.uniform(0.15, 0.95) * 255]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def resized_noise(rng: Rng, height: int, width: int, cell: int, amplitude: float) -> np.ndarray:
    """Smooth noise with features of about ``cell`` pixels: (H, W) float32, std about ``amplitude``."""
    noise = rng.normal(0, amplitude, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def surface(rng: Rng, height: int, width: int, colour: np.ndarray | None = None) -> np.ndarray:
    """A painted surface: plain, a gradient between two colours, noise texture, or stripes. (H, W, 3)."""
    colour = random_colour(rng) if colour is None else colour
    image = np.empty((height, width, 3), np.float32)
    image[:] = colour
    style = rng.integers(4)
    if style == 1:  # gradient towards a second colour
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = (xs * np.cos(angle) + ys * np.sin(angle)) / max(height, width)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        image = image * (1 - ramp[..., None]) + random_colour(rng) * ramp[..., None]
    elif style == 2:  # noise texture at a few scales
        scale = max(height, width)
        for cell in (max(2, scale // 300), max(4, scale // 60), max(8, scale // 12)):
            image = image + resized_noise(rng, height, width, cell, rng.uniform(4, 20))[..., None]
    elif style == 3:  # stripes or wood-like grain
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.01, 0.08) * max(height, width)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        warp = resized_noise(rng, height, width, max(8, max(height, width) // 8), period * 0.6)
        phase = (xs * np.cos(angle) + ys * np.sin(angle) + warp) * 2 * np.pi / period
        image = image + (rng.uniform(8, 35) * np.sin(phase))[..., None]
    return np.ascontiguousarray(np.clip(image, 0, 255), dtype=np.float32)


def plain_background(rng: Rng, height: int, width: int) -> np.ndarray:
    """A studio-like backdrop: one surface."""
    return surface(rng, height, width)


def clutter_background(rng: Rng, height: int, width: int) -> np.ndarray:
    """A surface with shapes, rods and thin lines of every colour: a cluttered room or street."""
    image = surface(rng, height, width)
    scale = (height + width) / 2
    for _ in range(int(rng.integers(10, 40))):
        colour = tuple(float(c) for c in random_colour(rng))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        kind = rng.integers(3)
        thickness = -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
        if kind == 0:
            size = rng.integers(scale / 60 + 1, scale / 5 + 2, 2)
            cv2.rectangle(image, (x, y), (x + int(size[0]), y + int(size[1])), colour, thickness)
        elif kind == 1:
            axes = tuple(int(a) for a in rng.integers(scale / 100 + 1, scale / 7 + 2, 2))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, thickness)
        else:
            points = np.cumsum(rng.normal(0, scale / 15, (int(rng.integers(3, 8)), 2)), axis=0) + (x, y)
            cv2.polylines(image, [points.astype(np.int32)], False, colour, int(rng.integers(1, 4)))
    return image


def bokeh_background(rng: Rng, height: int, width: int) -> np.ndarray:
    """Out-of-focus lights: soft discs of light over a darker surface."""
    image = surface(rng, height, width) * np.float32(rng.uniform(0.3, 0.8))
    lights = np.zeros_like(image)
    scale = min(height, width)
    for _ in range(int(rng.integers(15, 60))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.uniform(0.01, 0.08) * scale) + 1
        cv2.circle(lights, centre, radius, tuple(float(c) for c in random_colour(rng)), -1)
    lights = cv2.GaussianBlur(lights, (0, 0), max(1.0, 0.004 * scale))
    return np.clip(image + lights * np.float32(rng.uniform(0.4, 0.9)), 0, 255)


def foliage_background(rng: Rng, height: int, width: int) -> np.ndarray:
    """Dense leaves and grass: many small blobs and blades over a surface."""
    image = surface(rng, height, width)
    scale = min(height, width)
    base = random_colour(rng)
    for _ in range(int(rng.integers(150, 400))):
        colour = np.clip(base + rng.normal(0, 35, 3), 0, 255)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.uniform(0.005, 0.04) * scale) + 1, int(rng.uniform(0.002, 0.015) * scale) + 1)
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, tuple(float(c) for c in colour), -1)
    return image


def bricks_background(rng: Rng, height: int, width: int) -> np.ndarray:
    """A wall of bricks or tiles: a regular pattern of blocks and mortar lines."""
    image = surface(rng, height, width)
    mortar = tuple(float(c) for c in random_colour(rng))
    brick_h = int(rng.uniform(0.03, 0.1) * height) + 4
    brick_w = int(brick_h * rng.uniform(1.0, 3.0)) + 4
    line = max(1, brick_h // int(rng.integers(6, 14)))
    for row, y in enumerate(range(0, height, brick_h)):
        cv2.line(image, (0, y), (width - 1, y), mortar, line)
        offset = (brick_w // 2) * (row % 2)
        for x in range(-offset, width, brick_w):
            shade = rng.uniform(0.85, 1.15)
            block = image[y + line : y + brick_h, max(0, x + line) : max(0, x + brick_w)]
            block *= shade
            cv2.line(image, (x, y), (x, y + brick_h), mortar, line)
    return np.clip(image, 0, 255)


BACKGROUNDS: dict[str, Callable[[Rng, int, int], np.ndarray]] = {
    "plain": plain_background,
    "clutter": clutter_background,
    "bokeh": bokeh_background,
    "foliage": foliage_background,
    "bricks": bricks_background,
}


def lighting(rng: Rng, height: int, width: int) -> np.ndarray:
    """A smooth multiplicative light field over the whole scene: a directional gradient and a vignette. (H, W, 1)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    field = 1 + rng.uniform(0, 0.5) * (xs * np.cos(angle) + ys * np.sin(angle))
    field -= rng.uniform(0, 0.5) * (xs**2 + ys**2)
    return field[..., None]


def defocus(rng: Rng, image: np.ndarray, sharp: float) -> np.ndarray:
    """The background as a camera focused on the subject sees it: blurred at a random strength, or sharp (in a
    ``sharp`` fraction of images)."""
    if rng.random() < sharp:
        return image
    sigma = rng.uniform(0.002, 0.012) * max(image.shape[:2])
    return cv2.GaussianBlur(image, (0, 0), sigma)


def camera(rng: Rng, image: np.ndarray) -> np.ndarray:
    """Sensor noise and JPEG compression at a random quality: float image -> uint8 RGB."""
    noisy = image + rng.normal(0, rng.uniform(0, 6), image.shape).astype(np.float32)
    encoded = cv2.imencode(
        ".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 96))]
    )[1]
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
