"""onnxruntime: sessions for ONNX files, and a StyleHub network run by onnxruntime on the CPU."""
from __future__ import annotations

import importlib

import torch

from .arbitrary_nets import ArbitraryStyleNet
from .errors import StyleHubError
from .nets import TransformerNet


class OnnxError(StyleHubError):
    """The onnx packages are missing, or an ONNX file is not the network expected."""


def onnx_package(module: str):
    """The onnx or onnxruntime module; an OnnxError saying how to install it when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise OnnxError(f"this needs the {module} package: pip install 'stylehub[onnx]'") from None


def onnx_session(path, threads: int | None = None):
    """An onnxruntime CPU session for an ONNX file (all cores unless `threads` is given)."""
    ort = onnx_package("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    # Idle threads sleep instead of spinning: on a 2-core CPU spinning ones slowed the PyTorch work between two
    # runs (an Any painting call at 1024 px: 202-208 ms without spinning, 220-230 ms with it).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeNet(torch.nn.Module):
    """A transformer or arbitrary-style network run by onnxruntime on the CPU, called like the network it was
    exported from.

    A drop-in for `fast.stylize_image` and `arbitrary.stylize` (`stylehub apply --runtime onnxruntime`): on CPUs
    onnxruntime fuses what PyTorch runs as separate passes over the image (norms, paddings, ReLUs, the arbitrary
    network's int8 rounding): 1.7-2.1x PyTorch's speed for transformer networks painting 1024 px at full size on a
    2-core CPU (bench/bench_fast.py), 1.2x for the arbitrary-style network at 768 px, 2.6x for its style predictor
    at 512 px. `onnx_file` is the network's export, `predictor_file` an arbitrary-style network's style predictor's
    (`model.onnxruntime_net` makes both; without it the predictor runs in PyTorch).
    """

    def __init__(self, net: TransformerNet | ArbitraryStyleNet, onnx_file, predictor_file=None, *,
                 threads: int | None = None):
        super().__init__()
        self.net, self.stride, self.config = net.cpu().eval(), net.stride, net.config
        predictor = net.predictor if isinstance(net, ArbitraryStyleNet) else None
        self.predictor = OnnxRuntimePredictor(onnx_session(predictor_file, threads)) if predictor_file else predictor
        self.session = onnx_session(onnx_file, threads)

    def forward(self, image: torch.Tensor, styles=None) -> torch.Tensor:
        feed = {"image": image.detach().float().cpu().numpy()}
        if isinstance(self.net, ArbitraryStyleNet):
            feed["style_vector"] = self.net.style_vectors(styles).cpu().numpy()
        elif self.config.num_styles > 1:  # an index, a weight vector or a batch of them, checked as the net does
            feed["style_weights"] = self.net.style_weights(image, styles).cpu().numpy()
        return torch.from_numpy(self.session.run(None, feed)[0])


class OnnxRuntimePredictor:
    """An arbitrary-style network's style predictor run by onnxruntime: painting (N, 3, H, W) -> (N, style_dim)."""

    def __init__(self, session):
        self.session = session

    def __call__(self, painting: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"painting": painting.detach().float().cpu().numpy()})[0])
