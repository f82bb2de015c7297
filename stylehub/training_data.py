"""The photos a transformer network trains on: square crops of a folder's images, chosen by (seed, step) alone."""
from __future__ import annotations

import torch

from . import images


class ContentPhotos:
    """The training photos of a folder, decoded once, as square crops chosen by (seed, step) alone."""

    def __init__(self, folder, image_size: int):
        self.paths, self.image_size, self._cache = images.images_in(folder), image_size, {}

    def __len__(self) -> int:
        return len(self.paths)

    def photo(self, index: int) -> torch.Tensor:
        if index not in self._cache:
            rgb = images.load_image(self.paths[index]).rgb
            height, width = rgb.shape[-2:]
            scale = self.image_size / min(height, width)
            self._cache[index] = images.resize(rgb, (max(self.image_size, round(width * scale)),
                                                     max(self.image_size, round(height * scale))))
        return self._cache[index]

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0, processes: int = 1) -> torch.Tensor:
        """This process's share of the step's photos: one sequence of positions, split between processes."""
        crops = []
        for i in range(batch_size):
            position = (step * processes + rank) * batch_size + i
            epoch, offset = divmod(position, len(self))
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            photo = self.photo(int(order[offset]))
            crop_rng = torch.Generator().manual_seed(seed * 1_000_003 + position)
            top = int(torch.randint(photo.shape[-2] - self.image_size + 1, (1,), generator=crop_rng))
            left = int(torch.randint(photo.shape[-1] - self.image_size + 1, (1,), generator=crop_rng))
            crops.append(photo[..., top:top + self.image_size, left:left + self.image_size])
        return torch.cat(crops)
