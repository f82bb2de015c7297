"""Teaching a trained multi-style network one more style: a new row in every conditional norm, and training it alone."""
from __future__ import annotations

import dataclasses

import torch

from .nets import ConditionalInstanceNorm2d, TransformerNet


def with_added_style(net: TransformerNet) -> TransformerNet:
    """The same network with one more style, whose (gamma, beta) start as the mean of the others'."""
    config = dataclasses.replace(net.config, num_styles=net.config.num_styles + 1)
    state = net.state_dict()
    for name, module in net.named_modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            for key in (f"{name}.weight", f"{name}.bias"):
                state[key] = torch.cat([state[key], state[key].mean(0, keepdim=True)])
    grown = TransformerNet(config)
    grown.load_state_dict(state)
    return grown


def trainable_parameters(net: torch.nn.Module, only_style: int | None) -> list[torch.nn.Parameter]:
    """Every parameter, or only one style's rows of the conditional norms (the others get zero gradients)."""
    if only_style is None:
        return list(net.parameters())
    keep = torch.zeros(net.config.num_styles, 1)
    keep[only_style] = 1
    chosen = []
    for module in net.modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            for parameter in (module.weight, module.bias):
                parameter.register_hook(lambda grad: grad * keep.to(grad.device, grad.dtype))
                chosen.append(parameter)
    for parameter in net.parameters():
        parameter.requires_grad_(any(parameter is c for c in chosen))
    return chosen
