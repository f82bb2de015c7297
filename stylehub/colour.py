"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"): YIQ conversion,
luminance-only transfer, and matching the style's colour statistics to the content's.

Images are float tensors in [0, 1], shape (1, 3, H, W), as everywhere in StyleHub.
"""
from __future__ import annotations

import torch

from .images import resize
from .losses import sqrtm_psd

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel, repeated to three channels so that a CNN can take it."""
    return rgb_to_yiq(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content's mean and spread (as three channels)."""
    ys, yc = luminance(style), luminance(content)
    return ((ys - ys.mean()) * (yc.std() / ys.std().clamp_min(1e-5)) + yc.mean()).clamp(0, 1)


def combine_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance (Y) from the stylised image, colour or grey, chroma (I and Q) from the content: its colours kept."""
    yiq = rgb_to_yiq(resize(content, (stylized.shape[-1], stylized.shape[-2])))
    yiq = torch.cat([rgb_to_yiq(stylized)[:, :1], yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_colour_histogram(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour the style so that its colour mean and covariance are the content's (a linear map)."""
    def stats(image):
        pixels = image[0].flatten(1).double()
        mean = pixels.mean(1, keepdim=True)
        centred = pixels - mean
        return mean, centred, centred @ centred.T / centred.shape[1] + eps * torch.eye(3, dtype=torch.float64)

    s_mean, s_centred, s_cov = stats(style)
    c_mean, _, c_cov = stats(content)
    transform = sqrtm_psd(c_cov) @ torch.linalg.inv(sqrtm_psd(s_cov))
    out = (transform @ s_centred + c_mean).reshape(style.shape[1:]).unsqueeze(0)
    return out.to(style.dtype).clamp(0, 1)
