"""Images in and out: decoding, colour management, size limits, resizing and saving.

Inside StyleHub an image is a float tensor in [0, 1], shape (1, 3, H, W). Alpha is split off on loading and
re-attached (resized) on saving: style transfer works on colour only, and a transparent PNG stays transparent.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageError, SettingsError, StyleHubWarning
from .files import check_writable, write_atomically

MAX_INPUT_PIXELS = 50_000_000  # an input larger than this is refused before it is decoded
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
RESIZE_FILTERS = ("lanczos", "fast")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")  # what a folder of images holds


@dataclass
class LoadedImage:
    rgb: torch.Tensor  # (1, 3, H, W) float32 in [0, 1]
    alpha: torch.Tensor | None = None  # (1, 1, H, W) float32 in [0, 1], or None when opaque

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), like PIL."""
        return self.rgb.shape[-1], self.rgb.shape[-2]


def load_image(source, *, max_pixels: int = MAX_INPUT_PIXELS, name: str | None = None) -> LoadedImage:
    """Load a path, bytes, PIL image, numpy array or tensor as an RGB tensor in [0, 1] plus optional alpha.

    EXIF orientation is applied, embedded ICC profiles are converted to sRGB, grayscale, palette, 16-bit and
    CMYK inputs are converted, and images above max_pixels are refused before decoding.
    """
    label = name or _describe(source)
    if isinstance(source, torch.Tensor):
        return _from_tensor(source, label)
    if isinstance(source, np.ndarray):
        return _from_array(source, label)
    if isinstance(source, Image.Image):
        return _from_pil(source, label, max_pixels)
    if isinstance(source, (bytes, bytearray)):
        return _from_pil(_open(io.BytesIO(source), label), label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{label}: no such file")
        return _from_pil(_open(path, label), label, max_pixels)
    raise ImageError(f"{label}: expected a file path, PIL image or array, got {type(source).__name__}")


def images_in(folder) -> list[Path]:
    """The image files directly inside a folder, sorted; SettingsError when there is none or no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SettingsError(f"{folder}: no such folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise SettingsError(f"{folder}: no images ({' '.join(IMAGE_SUFFIXES)}) in this folder")
    return found


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "filename", None) or "image"


def _open(fp, label: str) -> Image.Image:
    try:
        with warnings.catch_warnings():  # our own pixel limit refuses such an image, with a clearer message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as err:
        raise ImageError(f"{label}: too many pixels to decode safely ({err})") from None
    except (OSError, ValueError) as err:
        raise ImageError(f"{label}: cannot be read ({err})") from None


def _from_pil(im: Image.Image, label: str, max_pixels: int) -> LoadedImage:
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of "
            f"{max_pixels / 1e6:.0f}; resize it first"
        )
    if width < 1 or height < 1:
        raise ImageError(f"{label}: the image is empty ({width}x{height})")
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        warnings.warn(f"{label}: has {frames} frames (an animation or a multi-page file); using the first",
                      StyleHubWarning, stacklevel=3)
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
        im = _to_srgb(im)
        return _decode_modes(im)
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageError(f"{label}: the file is broken or truncated ({err})") from None


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert an image with an embedded ICC profile (RGB, RGBA or CMYK) to sRGB; others pass through."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    alpha = im.getchannel("A") if im.mode == "RGBA" else None
    colour = im.convert("RGB") if im.mode == "RGBA" else im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(colour, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # an unreadable profile: use the pixel values as they are
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _decode_modes(im: Image.Image) -> LoadedImage:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(im, dtype=np.float64)
        return _from_array(np.clip(grey / 65535.0, 0.0, 1.0).astype(np.float32), "image")
    if mode == "F":
        return _from_array(np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0), "image")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in im.info)
    im = im.convert("RGBA" if has_alpha else "RGB")
    return _from_array(np.asarray(im), "image")


def _from_array(array: np.ndarray, label: str) -> LoadedImage:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{label}: expected an array of shape HxW or HxWxC with C in 1-4, got {array.shape}")
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(f"{label}: the array holds NaN or infinite values")
        values = np.clip(array.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageError(f"{label}: unsupported array type {array.dtype} (use uint8, uint16 or float in [0, 1])")
    tensor = torch.from_numpy(np.ascontiguousarray(values)).permute(2, 0, 1).unsqueeze(0)
    return _split_alpha(tensor)


def _from_tensor(tensor: torch.Tensor, label: str) -> LoadedImage:
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[0] != 1 or tensor.shape[1] not in (1, 3, 4):
        raise ImageError(f"{label}: expected a tensor of shape (1, C, H, W) with C in 1, 3, 4")
    return _split_alpha(tensor.detach().float().clamp(0, 1).cpu())


def _split_alpha(tensor: torch.Tensor) -> LoadedImage:
    channels = tensor.shape[1]
    colour = tensor[:, :3] if channels >= 3 else tensor[:, :1].expand(-1, 3, -1, -1)
    alpha = tensor[:, -1:] if channels in (2, 4) else None
    if alpha is not None and bool((alpha >= 1.0).all()):
        alpha = None
    return LoadedImage(colour.contiguous(), None if alpha is None else alpha.contiguous())


def fit_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is long_side, aspect kept."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(image: torch.Tensor, size: tuple[int, int], filter: str = "lanczos") -> torch.Tensor:
    """Resize an NCHW tensor to (width, height) with Pillow's Lanczos filter (on float planes, no 8-bit rounding);
    filter="fast" shrinks with PyTorch's antialiased bicubic instead (and enlarges with Lanczos).

    Lanczos is the usual filter of image tools, both ways: the fine texture a style is measured by depends on it.
    Enlarged bicubic, a painting has other relu1_1 statistics than enlarged with Lanczos (a 470-px painting at
    512 px: a Gram distance of 10 427 between the two copies, where optimised results reach 2-5), and the slow
    path matched the bicubic copy. Shrinking, antialiased bicubic takes a quarter to a third of Lanczos's time on a
    CPU (a 1024-px photo to 768 px: 5.6 against 16.6 ms on 2 cores) and a shrunk photo looks the same: the
    networks resize their inputs with "fast" (fast.py, arbitrary.py).
    """
    if filter not in RESIZE_FILTERS:
        raise ValueError(f"filter must be one of {RESIZE_FILTERS}, not {filter!r}")
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    if filter == "fast" and width * height < image.shape[-1] * image.shape[-2]:
        return F.interpolate(image, size=(height, width), mode="bicubic", antialias=True).clamp(0, 1)
    return _lanczos(image, size).clamp(0, 1).contiguous()  # a 1x1 input comes back channels-last


def _lanczos(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    planes = image.detach().float().cpu().numpy()
    shrunk = [[np.asarray(Image.fromarray(plane).resize(size, Image.LANCZOS)) for plane in channels]
              for channels in planes]
    return torch.from_numpy(np.array(shrunk)).to(image.device, image.dtype)


def resize_long_side(image: torch.Tensor, long_side: int, filter: str = "lanczos") -> torch.Tensor:
    """Resize so that the longer side is long_side (`resize`'s filter); ImageError when the shorter one would be
    under a pixel."""
    width, height = image.shape[-1], image.shape[-2]
    short = min(width, height) * long_side / max(width, height)
    if round(short) < 1:
        raise ImageError(f"a {width}x{height} image is too thin to resize to {long_side} px on its long side (its "
                         f"short side would be {short:.2g} px); crop it to a less elongated shape")
    return resize(image, fit_size((width, height), long_side), filter)


def to_pil(rgb: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """An 8-bit PIL image (RGBA when alpha is given, resized to the colour's size)."""
    array = _to_uint(rgb, alpha, np.uint8)
    return Image.fromarray(array, "RGBA" if array.shape[2] == 4 else "RGB")


def _to_uint(rgb: torch.Tensor, alpha: torch.Tensor | None, dtype) -> np.ndarray:
    image = rgb.detach().float().cpu().clamp(0, 1)[:1]
    if alpha is not None:
        alpha = resize(alpha.detach().float().cpu(), (image.shape[-1], image.shape[-2]))
        image = torch.cat([image, alpha], dim=1)
    top = np.iinfo(dtype).max
    return (image[0].permute(1, 2, 0).numpy() * top + 0.5).astype(dtype)


def save_image(rgb: torch.Tensor, path, *, alpha: torch.Tensor | None = None, bits: int = 8, quality: int = 95) -> Path:
    """Save to PNG, JPEG, WebP or TIFF (chosen by extension); 16-bit for PNG and TIFF.

    The file is written to a temporary name and moved into place, so an existing file is never half-overwritten.
    JPEG has no alpha channel: alpha is dropped there.
    """
    path = Path(path)
    fmt = check_output_path(path, bits)
    if fmt == "JPEG":
        alpha = None
    if bits == 16:
        array = _to_uint(rgb, alpha, np.uint16)
        data = _png16(array) if fmt == "PNG" else _tiff16(array)
    else:
        buffer = io.BytesIO()
        options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
        to_pil(rgb, alpha).save(buffer, fmt, **options)
        data = buffer.getvalue()
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


def check_output_path(path, bits: int = 8) -> str:
    """The Pillow format for `path`; SettingsError (OutputError when its folder refuses a new file) when it cannot
    be written: checked before long work."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SettingsError(f"{path}: unsupported output type; use one of {', '.join(sorted(SAVE_FORMATS))}")
    if bits not in (8, 16) or (bits == 16 and fmt not in SIXTEEN_BIT_FORMATS):
        raise SettingsError(f"{path}: {bits}-bit output is available for PNG and TIFF only (8-bit everywhere)")
    if not path.parent.is_dir():
        raise SettingsError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise SettingsError(f"{path} is a folder; give a file name")
    check_writable(path)
    return fmt


def _png16(array: np.ndarray) -> bytes:
    """A 16-bit RGB(A) PNG (Pillow writes 16-bit PNGs for grayscale only)."""
    height, width, channels = array.shape
    rows = array.astype(">u2").reshape(height, width * channels).tobytes()
    stride = width * channels * 2
    raw = b"".join(b"\x00" + rows[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 6 if channels == 4 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _tiff16(array: np.ndarray) -> bytes:
    """An uncompressed 16-bit RGB(A) TIFF, little-endian (alpha: an unassociated extra sample)."""
    buffer = io.BytesIO()
    alpha = {"extrasamples": ["unassalpha"]} if array.shape[-1] == 4 else {}
    tifffile.imwrite(buffer, array, photometric="rgb", byteorder="<", metadata=None, **alpha)
    return buffer.getvalue()

