import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere: tests never touch the network
os.environ.pop("STYLEHUB_WEIGHTS", None)
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="stylehub-examples-"))
os.environ["STYLEHUB_CACHE"] = tempfile.mkdtemp(prefix="stylehub-cache-")  # the ONNX exports of the tests' networks

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))
SHARED = Path(__file__).resolve().parents[2] / "shared"
HED_VGG16 = SHARED / "backbones" / "vgg16-hed.safetensors"


def gradient_image(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """A small RGB image with structure (gradients + blobs), so that losses have something to work on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [np.sin(6 * x + rng.uniform(0, 6)) * 0.4 + 0.5, y, np.cos(9 * x * y + rng.uniform(0, 6)) * 0.4 + 0.5]
    array = np.stack(channels, axis=-1) + rng.normal(0, 0.05, (height, width, 3))
    return Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture
def content_image() -> Image.Image:
    return gradient_image(48, 32, seed=1)


@pytest.fixture
def style_image() -> Image.Image:
    return gradient_image(40, 40, seed=2)


@pytest.fixture
def tiny(tmp_path):
    """Settings for a tiny, quick optimisation on a random VGG."""
    from stylehub import optimize

    return optimize.preset(size=32, min_size=20, steps=3, coarse_steps=2, weights="random", backbone="vgg11",
                           device="cpu", preview_every=2)


def requires_shared(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent (../shared is not beside this checkout)")
