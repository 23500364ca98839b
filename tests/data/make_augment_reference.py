"""Writes ``augment_reference.npz``: what albumentations 2.0.8 and OpenCV compute.

The reference (NectarGAN v0.2.3) builds its augmentations with albumentations 2.0.8 on
OpenCV; this script runs their functions on small inputs and saves inputs and outputs,
so ``tests/test_augment.py`` checks ``nectargan_jax.train._augment_ops`` against them
without depending on either library. Run it in an environment with
``albumentations==2.0.8`` (it pulls opencv-python-headless 4.x):

    python tests/data/make_augment_reference.py
"""

import random
from pathlib import Path

from albumentations.augmentations.blur import functional as fblur
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.augmentations.pixel import functional as fpixel
from albumentations.augmentations.pixel.transforms import ColorJitter
import numpy as np

H, W = 6, 8
OUT = Path(__file__).with_name("augment_reference.npz")


def main():
    rng = np.random.default_rng(20250)
    data = {}
    image = rng.uniform(0.05, 0.95, (H, W, 3)).astype(np.float32)
    data["image"] = image

    for name, k in (("camera_pos", 0.3), ("camera_neg", -0.2)):
        data[f"{name}_k"] = np.float32(k)
        data[f"{name}_maps"] = np.stack(fgeometric.get_camera_matrix_distortion_maps((H, W), k))
        data[f"fisheye{name[6:]}_maps"] = np.stack(
            fgeometric.get_fisheye_distortion_maps((H, W), k))

    for name, alpha, sigma in (("elastic_small", 3.0, 1.5), ("elastic_default", 1.0, 50.0)):
        seed = int(rng.integers(1 << 30))
        # generate_displacement_fields draws its noise first, so a generator seeded alike
        # gives the same noise.
        noise = np.random.default_rng(seed).standard_normal((2, H, W), dtype=np.float32)
        dx, dy = fgeometric.generate_displacement_fields(
            (H, W), alpha, sigma, same_dxdy=False, kernel_size=(0, 0),
            random_generator=np.random.default_rng(seed), noise_distribution="gaussian")
        data[f"{name}_params"] = np.float32([alpha, sigma])
        data[f"{name}_noise"] = noise
        data[f"{name}_fields"] = np.stack([dx, dy])

    factors = np.float32([1.15, 0.85, 1.2, 0.23])
    data["jitter_factors"] = factors
    adjust = (fpixel.adjust_brightness_torchvision, fpixel.adjust_contrast_torchvision,
              fpixel.adjust_saturation_torchvision, fpixel.adjust_hue_torchvision)
    for name, function, factor in zip(("brightness", "contrast", "saturation", "hue"),
                                      adjust, factors):
        data[f"adjust_{name}"] = function(image.copy(), float(factor))
    order = [2, 0, 3, 1]
    data["jitter_order"] = np.int32(order)
    data["jitter"] = ColorJitter(p=1.0).apply(
        image.copy(), brightness=float(factors[0]), contrast=float(factors[1]),
        saturation=float(factors[2]), hue=float(factors[3]), order=order)

    cases = [(3, 0.0, 0.0), (5, 30.0, -0.5), (7, 200.0, 0.7), (9, 97.0, 1.0)]
    for i, (size, angle, direction) in enumerate(cases):
        state = random.Random(i)
        draws = random.Random(i)
        shift = np.float32([draws.uniform(-1, 1), draws.uniform(-1, 1)]) * (size // 2) / 2
        kernel = fblur.create_motion_kernel(size, angle, direction, allow_shifted=True,
                                            random_state=state)
        data[f"motion{i}_params"] = np.float32([size, angle, direction, *shift])
        data[f"motion{i}_kernel"] = (kernel / kernel.sum()).astype(np.float32)
    data["filter_kernel"] = data["motion2_kernel"]
    data["filtered"] = fpixel.convolve(image.copy(), data["filter_kernel"])

    for method in ("weighted_average", "from_lab", "desaturation", "average", "max"):
        data[f"gray_{method}"] = fpixel.to_gray(image.copy(), 3, method)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
