"""A rendered face: a static, shaded base image per subject plus per-frame features drawn on top.

The base (background, hair, shaded skin, eye sockets, nose, cheeks) is computed once per session with
float maths and blurring; each frame then only copies it, draws the moving parts (eyes with lids and
blinks, brows, mouth, smile folds) with anti-aliased OpenCV primitives and applies the head pose as one
affine warp. That keeps a frame well under a millisecond while the face stays realistic enough for
OpenCV's Haar face detector (the face-crop pipeline relies on it).

Coordinates are in pixels relative to the face centre, ``x`` to the right and ``y`` down; the face
ellipse has half-axes ``half_width_px`` and ``half_height_px``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = ["FaceStyle", "FaceState", "FaceRig", "draw_face_style", "build_rig", "render_base", "render_frame"]

_SHIFT = 4  # fractional bits for sub-pixel OpenCV drawing
_SCALE = 1 << _SHIFT

# Skin tones (BGR, 0..255) from light to dark; a subject's tone is a mix of two neighbours.
_SKIN_TONES = np.array(
    [[196, 214, 247], [170, 196, 236], [140, 172, 222], [112, 146, 196], [84, 112, 160], [62, 86, 128]],
    dtype=np.float64,
)
_HAIR_COLOURS = np.array(
    [[20, 22, 28], [30, 40, 60], [40, 60, 95], [60, 90, 140], [95, 130, 170], [110, 110, 115]], dtype=np.float64
)


@dataclasses.dataclass(frozen=True)
class FaceStyle:
    """What makes one subject's face and room look different from another's (drawn once per session)."""

    width_px: int
    height_px: int
    centre_xy: tuple[float, float]
    half_width_px: float
    half_height_px: float
    skin_bgr: tuple[float, float, float]
    hair_bgr: tuple[float, float, float]
    lip_bgr: tuple[float, float, float]
    iris_bgr: tuple[float, float, float]
    shirt_bgr: tuple[float, float, float]
    wall_bgr: tuple[float, float, float]
    light_xy: tuple[float, float]
    brightness: float
    long_hair: bool
    eye_spacing: float
    eye_size: float
    mouth_width: float
    brow_thickness_px: int


@dataclasses.dataclass(frozen=True)
class FaceState:
    """The moving parts of one frame; all expression values are roughly in [-1, 1] or [0, 1].

    Attributes:
        eye_open: Eyelid opening, 0 (closed) .. 1 (wide open).
        brow_raise: Brow height, -1 (lowered) .. 1 (raised).
        brow_frown: Inner brow lowering, 0 .. 1.
        smile: Mouth corners, -1 (down) .. 1 (up); positive values also raise the cheeks.
        mouth_open: Jaw / lip opening, 0 .. 1.
        gaze_xy: Iris offset as a fraction of the eye size.
        roll_deg, shift_xy, scale: Head pose applied as an affine warp around the face centre.
        gain: Global brightness factor (lighting changes, camera auto-exposure).
    """

    eye_open: float
    brow_raise: float
    brow_frown: float
    smile: float
    mouth_open: float
    gaze_xy: tuple[float, float]
    roll_deg: float
    shift_xy: tuple[float, float]
    scale: float
    gain: float


def draw_face_style(rng: np.random.Generator, *, width_px: int, height_px: int, female: bool) -> FaceStyle:
    """Random subject appearance: face size/shape/position, colours, lighting."""
    half_height = rng.uniform(0.27, 0.32) * height_px
    half_width = half_height * rng.uniform(0.72, 0.82)
    centre = (width_px / 2 + rng.uniform(-0.07, 0.07) * width_px, height_px * rng.uniform(0.46, 0.53))
    tone = rng.uniform(0, len(_SKIN_TONES) - 1)
    low = int(np.floor(tone))
    high = min(low + 1, len(_SKIN_TONES) - 1)
    skin = (1 - (tone - low)) * _SKIN_TONES[low] + (tone - low) * _SKIN_TONES[high]
    hair = _HAIR_COLOURS[rng.integers(0, len(_HAIR_COLOURS))] * rng.uniform(0.8, 1.1)
    if tone > 3.5:  # dark skin: keep hair darker than skin, as it usually is
        hair = np.minimum(hair, skin * 0.45)
    lip = skin * np.array([0.72, 0.66, 0.9]) + np.array([10, 0, 0])
    iris = np.array([rng.uniform(20, 80), rng.uniform(30, 80), rng.uniform(30, 90)])
    angle = rng.uniform(0, 2 * np.pi)
    light = (float(np.cos(angle) * rng.uniform(0.15, 0.5)), float(-abs(np.sin(angle)) * rng.uniform(0.2, 0.6)))
    wall = rng.uniform(90, 210, size=3)
    shirt = rng.uniform(30, 200, size=3)
    return FaceStyle(
        width_px=width_px,
        height_px=height_px,
        centre_xy=(float(centre[0]), float(centre[1])),
        half_width_px=float(half_width),
        half_height_px=float(half_height),
        skin_bgr=tuple(float(c) for c in skin),
        hair_bgr=tuple(float(c) for c in hair),
        lip_bgr=tuple(float(c) for c in np.clip(lip, 0, 255)),
        iris_bgr=tuple(float(c) for c in iris),
        shirt_bgr=tuple(float(c) for c in shirt),
        wall_bgr=tuple(float(c) for c in wall),
        light_xy=light,
        brightness=float(rng.uniform(0.85, 1.12)),
        long_hair=bool(rng.random() < (0.7 if female else 0.15)),
        eye_spacing=float(rng.uniform(0.38, 0.45)),
        eye_size=float(rng.uniform(0.9, 1.1)),
        mouth_width=float(rng.uniform(0.3, 0.38)),
        brow_thickness_px=int(rng.integers(3, 6)),
    )


def _pts(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> int32 points in OpenCV's fixed-point format (``shift=_SHIFT``)."""
    return np.round(np.asarray(points) * _SCALE).astype(np.int32).reshape(-1, 1, 2)


def _blob(shape: tuple[int, int], centre, axes, sigma: float) -> np.ndarray:
    """A filled ellipse mask in [0, 1], blurred by ``sigma`` pixels."""
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(mask, _ipt(centre), _ipt(axes), 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask


def _ipt(xy) -> tuple[int, int]:
    return int(round(xy[0] * _SCALE)), int(round(xy[1] * _SCALE))


def _layout(style: FaceStyle) -> dict[str, float]:
    """Positions of the facial features relative to the face centre."""
    fw, fh = style.half_width_px, style.half_height_px
    return {
        "eye_x": style.eye_spacing * fw,
        "eye_y": -0.08 * fh,
        "eye_w": 0.2 * fw * style.eye_size,
        "eye_h": 0.085 * fw * style.eye_size,
        "brow_y": -0.27 * fh,
        "nose_y": 0.25 * fh,
        "mouth_y": 0.52 * fh,
        "mouth_w": style.mouth_width * fw,
    }


def render_base(style: FaceStyle) -> np.ndarray:
    """The static part of the picture (uint8 BGRA, alpha unused: OpenCV warps 4 channels ~2x faster than
    3): room, shoulders, hair, shaded face without features."""
    h, w = style.height_px, style.width_px
    cx, cy = style.centre_xy
    fw, fh = style.half_width_px, style.half_height_px
    lay = _layout(style)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # room: wall with a soft horizontal gradient and a darker lower band
    wall = np.asarray(style.wall_bgr, np.float32)
    ramp = (0.85 + 0.3 * xx / w)[..., None] * (1.0 - 0.15 * (yy > 0.75 * h))[..., None]
    image = wall[None, None, :] * ramp

    def paint(mask: np.ndarray, colour) -> None:
        nonlocal image
        image = image * (1 - mask[..., None]) + mask[..., None] * np.asarray(colour, np.float32)

    shape = (h, w)
    # long hair falls behind the shoulders; then shoulders, neck and the hair around the skull
    if style.long_hair:
        paint(_blob(shape, (cx, cy + 0.35 * fh), (1.3 * fw, 1.25 * fh), 2.0), style.hair_bgr)
    paint(_blob(shape, (cx, cy + 2.15 * fh), (2.2 * fw, 1.1 * fh), 1.5), style.shirt_bgr)
    paint(_blob(shape, (cx, cy + 1.0 * fh), (0.55 * fw, 0.55 * fh), 1.5), np.asarray(style.skin_bgr) * 0.72)
    paint(_blob(shape, (cx, cy - 0.12 * fh), (1.14 * fw, 1.07 * fh), 1.5), style.hair_bgr)
    # ears
    for side in (-1, 1):
        paint(_blob(shape, (cx + side * 0.97 * fw, cy + lay["eye_y"] + 0.12 * fh), (0.14 * fw, 0.2 * fh), 1.0),
              np.asarray(style.skin_bgr) * 0.85)
    # face skin
    face = _blob(shape, (cx, cy), (fw, fh), 1.2)
    paint(face, style.skin_bgr)
    # fringe: hair covering the top of the forehead
    fringe = _blob(shape, (cx, cy - 0.98 * fh), (1.05 * fw, 0.42 * fh), 2.0) * (face > 0.05)
    paint(np.clip(fringe, 0, 1), style.hair_bgr)

    # shading: Lambertian light on an ellipsoid, applied to the skin only
    nx = np.clip((xx - cx) / fw, -1, 1)
    ny = np.clip((yy - cy) / fh, -1, 1)
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
    lx, ly = style.light_xy
    lz = np.sqrt(max(1 - lx**2 - ly**2, 0.1))
    lambert = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
    shade = 0.55 + 0.55 * lambert
    # local relief: eye sockets darker, nose bridge, cheeks and forehead lighter, nostril and lip shadows
    ex, ey = lay["eye_x"], lay["eye_y"]
    for side in (-1, 1):
        shade -= 0.32 * _blob(shape, (cx + side * ex, cy + ey - 0.01 * fh), (1.5 * lay["eye_w"], 0.17 * fh), 4)
        shade += 0.12 * _blob(shape, (cx + side * 0.45 * fw, cy + 0.27 * fh), (0.22 * fw, 0.14 * fh), 5)
        shade -= 0.12 * _blob(shape, (cx + side * 0.12 * fw - lx * 4, cy + 0.08 * fh), (0.05 * fw, 0.15 * fh), 3)
    shade += 0.16 * _blob(shape, (cx, cy + 0.02 * fh), (0.07 * fw, 0.22 * fh), 3)  # nose bridge
    shade += 0.12 * _blob(shape, (cx, cy - 0.45 * fh), (0.5 * fw, 0.16 * fh), 6)  # forehead
    shade += 0.10 * _blob(shape, (cx, cy + lay["nose_y"] - 0.03 * fh), (0.09 * fw, 0.06 * fh), 2)  # nose tip
    shade -= 0.18 * _blob(shape, (cx - lx * 3, cy + lay["nose_y"] + 0.07 * fh), (0.2 * fw, 0.05 * fh), 2.5)
    shade -= 0.12 * _blob(shape, (cx, cy + 0.72 * fh), (0.3 * fw, 0.06 * fh), 3)  # below the lower lip
    shade -= 0.25 * (1 - _blob(shape, (cx, cy), (0.93 * fw, 0.95 * fh), 5))  # darker rim
    skin_area = face * (1 - np.clip(fringe, 0, 1))
    shade = 1 + skin_area * (shade - 1)
    image = image * shade[..., None]
    # nostrils
    for side in (-1, 1):
        nostril = _blob(shape, (cx + side * 0.08 * fw, cy + lay["nose_y"] + 0.05 * fh), (0.045 * fw, 0.025 * fh), 0.8)
        image = image * (1 - 0.55 * nostril[..., None])
    image = image * style.brightness
    return cv2.cvtColor(np.clip(image + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_BGR2BGRA)


@dataclasses.dataclass(frozen=True, eq=False)
class FaceRig:
    """Everything a frame needs that does not change within a session: style, base image, feature layout
    and colours sampled from the shaded base (so that drawn parts match the local lighting)."""

    style: FaceStyle
    base: np.ndarray
    layout: dict[str, float]
    colours: dict[str, tuple[float, float, float]]


def build_rig(style: FaceStyle) -> FaceRig:
    """Render the base image once and sample the feature colours from it."""
    base = render_base(style)
    lay = _layout(style)
    cx, cy = style.centre_xy
    fw, fh = style.half_width_px, style.half_height_px

    def local(x: float, y: float) -> np.ndarray:
        return base[int(round(y)), int(round(x)), :3].astype(np.float64)

    skin = np.asarray(style.skin_bgr) * style.brightness
    mouth_skin = local(cx, cy + lay["mouth_y"] - 0.12 * fh)
    eye_skin = np.mean([local(cx + s * lay["eye_x"], cy + lay["eye_y"]) for s in (-1, 1)], axis=0)
    eye_shade = float(np.clip(np.mean(eye_skin / np.maximum(skin, 1)), 0.45, 1.0))
    fold_skin = np.mean([local(cx + s * 0.3 * fw, cy + 0.4 * fh) for s in (-1, 1)], axis=0)

    def tup(c) -> tuple[float, float, float]:
        return tuple(float(v) for v in np.clip(c, 0, 255))

    colours = {
        "white": tup(np.array([215.0, 222.0, 228.0]) * (0.55 + 0.45 * eye_shade) * style.brightness),
        "iris": tup(np.asarray(style.iris_bgr) * style.brightness),
        "lash": tup(np.asarray(style.hair_bgr) * 0.4),
        "crease": tup(local(cx + lay["eye_x"], cy + lay["eye_y"] - 1.6 * lay["eye_h"]) * 0.78),
        "brow": tup(np.asarray(style.hair_bgr) * 0.8 * style.brightness),
        "lip": tup(mouth_skin * np.array([0.68, 0.62, 0.92])),
        "lip_line": tup(mouth_skin * np.array([0.35, 0.3, 0.45])),
        "fold": tup(fold_skin * 0.85),
        "teeth": tup(np.array([200.0, 212.0, 218.0]) * style.brightness * 0.9),
    }
    return FaceRig(style=style, base=base, layout=lay, colours=colours)


def _eye(image: np.ndarray, centre: tuple[float, float], rig: FaceRig, state: FaceState, smile_raise: float) -> None:
    """One eye: white, iris and pupil clipped to the lid opening, lash line and lid crease."""
    lay, col = rig.layout, rig.colours
    ew, eh = lay["eye_w"], lay["eye_h"]
    upper = eh * float(np.clip(state.eye_open, 0.0, 1.25))
    lower = eh * 0.7 * (1.0 - 0.45 * smile_raise)
    x0, y0 = max(int(centre[0] - ew - 3), 0), max(int(centre[1] - eh * 2.4 - 3), 0)
    x1, y1 = int(centre[0] + ew + 4), int(centre[1] + eh * 1.2 + 4)
    roi = image[y0:y1, x0:x1]
    if roi.size == 0:
        return
    local = (centre[0] - x0, centre[1] - y0)
    crease_y = local[1] - 0.3 * eh
    cv2.ellipse(roi, _ipt((local[0], crease_y)), _ipt((ew * 0.95, upper + 0.6 * eh + 1)), 0, 200, 340,
                col["crease"], 1, cv2.LINE_AA, _SHIFT)
    if upper > 0.6:
        drawn = roi.copy()
        cv2.ellipse(drawn, _ipt(local), _ipt((ew, eh)), 0, 0, 360, col["white"], -1, cv2.LINE_AA, _SHIFT)
        iris_c = (local[0] + state.gaze_xy[0] * 0.45 * ew, local[1] + state.gaze_xy[1] * 0.3 * eh)
        cv2.circle(drawn, _ipt(iris_c), int(0.68 * eh * _SCALE), col["iris"], -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(drawn, _ipt(iris_c), int(0.32 * eh * _SCALE), (12, 12, 12), -1, cv2.LINE_AA, _SHIFT)
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.ellipse(mask, _ipt(local), _ipt((ew, upper)), 0, 180, 360, 255, -1, cv2.LINE_8, _SHIFT)
        cv2.ellipse(mask, _ipt(local), _ipt((ew, lower)), 0, 0, 180, 255, -1, cv2.LINE_8, _SHIFT)
        cv2.copyTo(drawn, mask, roi)  # the lash line drawn next hides the hard edge
        cv2.ellipse(roi, _ipt(local), _ipt((ew, upper)), 0, 182, 358, col["lash"], 2, cv2.LINE_AA, _SHIFT)
    else:  # closed: a lash line
        cv2.ellipse(roi, _ipt(local), _ipt((ew, max(lower * 0.4, 0.5))), 0, 0, 180, col["lash"], 2, cv2.LINE_AA,
                    _SHIFT)


def _brow(image: np.ndarray, side: int, rig: FaceRig, state: FaceState) -> None:
    style, lay = rig.style, rig.layout
    cx, cy = style.centre_xy
    fh = style.half_height_px
    ex, ew = lay["eye_x"], lay["eye_w"]
    base_y = cy + lay["brow_y"] - state.brow_raise * 0.05 * fh
    inner_drop = state.brow_frown * 0.045 * fh - max(state.brow_raise, 0) * 0.015 * fh
    xs = np.array([ex - 1.1 * ew, ex - 0.2 * ew, ex + 0.6 * ew, ex + 1.25 * ew])
    ys = np.array([inner_drop, -0.035 * fh, -0.04 * fh, -0.005 * fh]) + base_y
    points = np.stack([cx + side * xs, ys], axis=1)
    cv2.polylines(image, [_pts(points)], False, rig.colours["brow"], style.brow_thickness_px, cv2.LINE_AA, _SHIFT)


def _mouth(image: np.ndarray, rig: FaceRig, state: FaceState) -> None:
    style, lay, col = rig.style, rig.layout, rig.colours
    cx, cy = style.centre_xy
    fw, fh = style.half_width_px, style.half_height_px
    smile = float(np.clip(state.smile, -1, 1))
    half_w = lay["mouth_w"] * (1 + 0.25 * max(smile, 0) - 0.05 * max(-smile, 0))
    open_px = 0.17 * fh * float(np.clip(state.mouth_open, 0, 1))
    corner_y = cy + lay["mouth_y"] - smile * 0.15 * fh
    centre_y = cy + lay["mouth_y"]
    t = np.linspace(-1, 1, 11)
    bow = 1 - t**2  # 0 at the corners, 1 in the middle
    x = cx + half_w * t
    mid = corner_y + (centre_y - corner_y) * bow
    inner_top = mid - 0.3 * open_px * bow
    inner_bottom = mid + 0.7 * open_px * bow
    lip_top = inner_top - (0.05 * fh) * np.sqrt(bow) * (1 - 0.35 * np.exp(-(t / 0.25) ** 2)) - 0.5
    lip_bottom = inner_bottom + (0.07 * fh) * np.sqrt(bow) + 0.5
    outline = np.concatenate([np.stack([x, lip_top], 1), np.stack([x[::-1], lip_bottom[::-1]], 1)])
    cv2.fillPoly(image, [_pts(outline)], col["lip"], cv2.LINE_AA, _SHIFT)
    if open_px > 1.0:
        hole = np.concatenate([np.stack([x, inner_top], 1), np.stack([x[::-1], inner_bottom[::-1]], 1)])
        cv2.fillPoly(image, [_pts(hole)], (25, 20, 40), cv2.LINE_AA, _SHIFT)
        if open_px > 4:  # upper teeth
            inner = slice(2, -2)
            teeth = np.concatenate([np.stack([x[inner], inner_top[inner]], 1),
                                    np.stack([x[inner][::-1], (inner_top + 0.3 * open_px * bow)[inner][::-1]], 1)])
            cv2.fillPoly(image, [_pts(teeth)], col["teeth"], cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(image, [_pts(np.stack([x, mid], 1))], False, col["lip_line"], 1, cv2.LINE_AA, _SHIFT)
    if smile > 0.25:  # nasolabial folds deepen with a smile
        fold = tuple(c * (1.1 - 0.2 * smile) for c in col["fold"])
        for side in (-1, 1):
            pts = np.array([[cx + side * 0.2 * fw, cy + lay["nose_y"]],
                            [cx + side * (half_w + 0.07 * fw), corner_y - 0.03 * fh],
                            [cx + side * (half_w + 0.04 * fw), corner_y + 0.07 * fh]])
            cv2.polylines(image, [_pts(pts)], False, fold, 1, cv2.LINE_AA, _SHIFT)


def render_frame(rig: FaceRig, state: FaceState) -> np.ndarray:
    """One uint8 BGRA frame: the rig's base plus the features of ``state``, warped by the head pose.

    ``state.gain`` is not applied here (the encoder applies it to the luma, where it is cheaper)."""
    style, lay = rig.style, rig.layout
    image = rig.base.copy()
    cx, cy = style.centre_xy
    smile_raise = max(state.smile, 0.0)
    for side in (-1, 1):
        _eye(image, (cx + side * lay["eye_x"], cy + lay["eye_y"]), rig, state, smile_raise)
        _brow(image, side, rig, state)
    _mouth(image, rig, state)
    matrix = cv2.getRotationMatrix2D((cx, cy), state.roll_deg, state.scale)
    matrix[:, 2] += state.shift_xy
    return cv2.warpAffine(image, matrix, (style.width_px, style.height_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
