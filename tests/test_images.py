import io
import struct
import zlib

import numpy as np
import pytest
import torch
from conftest import gradient_image
from PIL import Image, ImageCms

from stylehub import colour, images
from stylehub.errors import ImageError, SettingsError


def test_load_path_pil_array_and_tensor_agree(tmp_path, content_image):
    path = tmp_path / "c.png"
    content_image.save(path)
    from_path = images.load_image(path).rgb
    assert from_path.shape == (1, 3, 32, 48) and from_path.dtype == torch.float32
    assert torch.equal(images.load_image(content_image).rgb, from_path)
    assert torch.equal(images.load_image(np.asarray(content_image)).rgb, from_path)
    assert torch.equal(images.load_image(from_path[0]).rgb, from_path)
    assert torch.equal(images.load_image(path.read_bytes()).rgb, from_path)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "red")
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert images.load_image(tmp_path / "rot.jpg").size == (20, 40)


def test_icc_profile_is_converted_to_srgb(tmp_path):
    im = gradient_image()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.save(tmp_path / "icc.png", icc_profile=srgb)
    loaded = images.load_image(tmp_path / "icc.png").rgb
    assert (loaded - images.load_image(im).rgb).abs().max() < 3 / 255
    im.save(tmp_path / "badicc.png", icc_profile=b"not a profile")
    assert torch.equal(images.load_image(tmp_path / "badicc.png").rgb, images.load_image(im).rgb)


def test_cmyk_with_profile_and_without(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in naive CMYK
    rgb = images.load_image(cmyk).rgb
    assert rgb.shape == (1, 3, 8, 8)
    assert rgb[0, 0].mean() > 0.9 and rgb[0, 1].mean() < 0.1


def test_grayscale_palette_and_sixteen_bit():
    grey = images.load_image(Image.new("L", (4, 4), 128)).rgb
    assert torch.allclose(grey, torch.full((1, 3, 4, 4), 128 / 255))
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30])
    assert torch.allclose(images.load_image(palette).rgb[0, :, 0, 0], torch.tensor([10, 200, 30]) / 255)
    deep = Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16))
    assert torch.allclose(images.load_image(deep).rgb, torch.full((1, 3, 4, 4), 40000 / 65535))
    assert torch.allclose(images.load_image(np.full((2, 2, 3), 65535, np.uint16)).rgb, torch.ones(1, 3, 2, 2))


def test_alpha_is_split_off_and_kept(tmp_path):
    rgba = Image.new("RGBA", (6, 4), (255, 0, 0, 128))
    loaded = images.load_image(rgba)
    assert loaded.alpha is not None and torch.allclose(loaded.alpha, torch.full((1, 1, 4, 6), 128 / 255))
    assert images.load_image(Image.new("RGBA", (6, 4), (255, 0, 0, 255))).alpha is None  # opaque: dropped
    la = Image.new("LA", (6, 4), (100, 50))
    assert images.load_image(la).alpha is not None
    transparent_palette = Image.new("P", (6, 4), 0)
    transparent_palette.info["transparency"] = 0
    assert images.load_image(transparent_palette).alpha is not None
    out = images.save_image(loaded.rgb, tmp_path / "a.png", alpha=loaded.alpha)
    assert Image.open(out).mode == "RGBA" and Image.open(out).getpixel((0, 0))[3] == 128


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"hello, I am text"), "not an image"),
    (lambda p: p.write_bytes(_png_bytes()[:60]), "broken or truncated"),
    (lambda p: None, "no such file"),
])
def test_bad_files_get_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError, match=message):
        images.load_image(path)


def _png_bytes():
    buffer = io.BytesIO()
    gradient_image(64, 64).save(buffer, "PNG")
    return buffer.getvalue()


def test_too_many_pixels_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(ImageError, match=r"300x200 is 0.1 megapixels, above the limit"):
        images.load_image(path, max_pixels=50_000)


def test_decompression_bomb_header_is_refused(tmp_path):
    # A PNG that claims 100000 x 100000 pixels: refused from the header, nothing is decoded.
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises(ImageError, match="too many pixels to decode safely"):
        images.load_image(tmp_path / "bomb.png")


def test_bad_arrays():
    with pytest.raises(ImageError, match="shape"):
        images.load_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        images.load_image(np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match="unsupported array type"):
        images.load_image(np.zeros((2, 2, 3), np.int64))
    with pytest.raises(ImageError, match="expected a file path"):
        images.load_image(42)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_save_formats_round_trip(tmp_path, suffix, content_image):
    rgb = images.load_image(content_image).rgb
    path = images.save_image(rgb, tmp_path / f"out{suffix}")
    back = images.load_image(path).rgb
    assert back.shape == rgb.shape
    if suffix in (".png", ".tif"):
        assert (back - rgb).abs().max() < 1e-6
    else:
        assert (back - rgb).abs().mean() < 0.04  # lossy, quality 95


def test_sixteen_bit_png_keeps_precision(tmp_path):
    rgb = torch.linspace(0, 1, 2 * 3 * 5).reshape(1, 3, 2, 5)
    path = images.save_image(rgb, tmp_path / "deep.png", bits=16)
    data = path.read_bytes()
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (5, 2, 16, 2)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_len])
    rows = [np.frombuffer(raw[y * 31 + 1:(y + 1) * 31], ">u2") for y in range(2)]
    decoded = np.stack(rows).reshape(2, 5, 3).transpose(2, 0, 1) / 65535
    assert np.abs(decoded - rgb[0].numpy()).max() < 1 / 65535
    assert Image.open(path).size == (5, 2)  # a valid PNG for other readers too


def test_sixteen_bit_tiff_is_readable(tmp_path):
    rgb = torch.rand(1, 3, 4, 6)
    path = images.save_image(rgb, tmp_path / "deep.tif", bits=16)
    data = path.read_bytes()
    assert data[:4] == b"II*\x00"
    pixels = np.frombuffer(data[-4 * 6 * 3 * 2:], "<u2").reshape(4, 6, 3).transpose(2, 0, 1) / 65535
    assert np.abs(pixels - rgb[0].numpy()).max() < 1 / 65535
    assert Image.open(path).size == (6, 4)


def test_bad_outputs_are_refused_and_nothing_is_overwritten(tmp_path):
    rgb = torch.rand(1, 3, 4, 4)
    with pytest.raises(SettingsError, match="unsupported output type"):
        images.save_image(rgb, tmp_path / "out.gif")
    with pytest.raises(SettingsError, match="PNG and TIFF only"):
        images.save_image(rgb, tmp_path / "out.jpg", bits=16)
    with pytest.raises(SettingsError, match="does not exist"):
        images.save_image(rgb, tmp_path / "missing" / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_resize_keeps_aspect():
    assert images.fit_size((1024, 768), 512) == (512, 384)
    assert images.resize_long_side(torch.rand(1, 3, 30, 60), 20).shape == (1, 3, 10, 20)


@pytest.mark.parametrize("size", [(23, 17), (90, 70)])  # shrinking and enlarging a 45x35 picture
def test_resize_is_pillows_lanczos_both_ways(size):
    """As ../shared/tools/judge.py and the paper's reference resize a painting to the output's long side."""
    pixels = np.random.default_rng(0).integers(96, 160, (35, 45, 3), dtype=np.uint8)  # no overshoot to clip
    expected = np.asarray(Image.fromarray(pixels).resize(size, Image.LANCZOS), dtype=np.float32) / 255
    resized = images.resize(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255, size)
    assert np.abs(resized[0].permute(1, 2, 0).numpy() - expected).max() <= 1.5 / 255


def test_resize_fast_shrinks_with_antialiased_bicubic_and_enlarges_with_lanczos():
    photo = torch.from_numpy(np.asarray(Image.effect_mandelbrot((96, 72), (-2, -1.2, 1, 1.2), 60).convert("RGB"),
                                        dtype=np.float32) / 255).permute(2, 0, 1)[None]
    shrunk = images.resize(photo, (40, 30), filter="fast")
    expected = torch.nn.functional.interpolate(photo, size=(30, 40), mode="bicubic", antialias=True).clamp(0, 1)
    assert torch.equal(shrunk, expected)
    assert (shrunk - images.resize(photo, (40, 30))).abs().mean() < 2 / 255  # near Lanczos
    assert torch.equal(images.resize(photo, (120, 90), filter="fast"), images.resize(photo, (120, 90)))
    with pytest.raises(ValueError, match="filter"):
        images.resize(photo, (40, 30), filter="nearest")


def test_luminance_transfer_keeps_content_chroma():
    torch.manual_seed(0)
    content, stylised = torch.rand(1, 3, 8, 8) * 0.5 + 0.25, torch.rand(1, 3, 8, 8) * 0.5 + 0.25
    for given in (colour.luminance(stylised), stylised):  # the slow path gives grey, the networks colour
        combined = colour.combine_luminance(given, content)
        yiq_out, yiq_content = colour.rgb_to_yiq(combined), colour.rgb_to_yiq(content)
        assert torch.allclose(yiq_out[:, 1:], yiq_content[:, 1:], atol=1e-5)
        assert torch.allclose(yiq_out[:, :1], colour.rgb_to_yiq(stylised)[:, :1], atol=1e-5)


def test_histogram_matching_gives_the_content_colour_statistics():
    torch.manual_seed(1)
    style = torch.rand(1, 3, 16, 16) * torch.tensor([0.3, 0.2, 0.1]).view(1, 3, 1, 1) + 0.4
    content = torch.rand(1, 3, 16, 16) * 0.2 + torch.tensor([0.5, 0.3, 0.2]).view(1, 3, 1, 1)
    matched = colour.match_colour_histogram(style, content)
    assert torch.allclose(matched.mean((2, 3)), content.mean((2, 3)), atol=1e-3)
    cov = lambda x: torch.cov(x[0].flatten(1))  # noqa: E731
    assert torch.allclose(cov(matched), cov(content), atol=1e-3)


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from stylehub.files import write_atomically

    path = write_atomically(tmp_path / "x.txt", lambda tmp: open(tmp, "w").write("x"))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
