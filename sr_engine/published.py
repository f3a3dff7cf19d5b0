"""Published figures (PSNR dB, SSIM) on the standard BI protocol, Y channel.

Copied from the papers via ../shared/data/PROTOCOL.md; these are the targets our own
results are compared with, never our results. SSIM is None where the paper gives none.
"""

from __future__ import annotations

Figure = tuple[float, float | None]

# (arch id, dataset, scale) -> (psnr, ssim)
PUBLISHED: dict[tuple[str, str, int], Figure] = {}


def _add(arch: str, rows: dict[str, dict[int, Figure]]) -> None:
    for dataset, by_scale in rows.items():
        for scale, fig in by_scale.items():
            PUBLISHED[(arch, dataset, scale)] = fig


_add("bicubic", {
    "Set5": {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)},
    "Set14": {2: (30.24, 0.8688), 3: (27.55, 0.7742), 4: (26.00, 0.7027)},
})
_add("srcnn", {
    "Set5": {2: (36.66, 0.9542), 3: (32.75, 0.9090), 4: (30.48, 0.8628)},
    "Set14": {2: (32.42, 0.9063), 3: (29.28, 0.8209), 4: (27.49, 0.7503)},
})
_add("fsrcnn", {
    "Set5": {2: (37.00, 0.9558), 3: (33.16, 0.9140), 4: (30.72, 0.8660)},
    "Set14": {2: (32.63, 0.9088), 3: (29.43, 0.8242), 4: (27.61, 0.7550)},
})
_add("espcn", {
    "Set5": {3: (33.13, None), 4: (30.90, None)},
    "Set14": {3: (29.49, None), 4: (27.73, None)},
})
_add("vdsr", {
    "Set5": {2: (37.53, 0.9587), 3: (33.66, 0.9213), 4: (31.35, 0.8838)},
    "Set14": {2: (33.03, 0.9124), 3: (29.77, 0.8314), 4: (28.01, 0.7674)},
})
_add("drcn", {
    "Set5": {2: (37.63, 0.9588), 3: (33.82, 0.9226), 4: (31.53, 0.8854)},
    "Set14": {2: (33.04, 0.9118), 3: (29.76, 0.8311), 4: (28.02, 0.7670)},
})
_add("edsr", {
    "Set5": {2: (37.99, 0.9604), 3: (34.37, 0.9270), 4: (32.09, 0.8938)},
    "Set14": {2: (33.57, 0.9175), 3: (30.28, 0.8417), 4: (28.58, 0.7813)},
})
_add("srresnet", {"Set5": {4: (32.05, None)}, "Set14": {4: (28.49, None)}})
# The perceptual models: what they give up in PSNR/SSIM (their papers judge them by eye).
_add("srgan", {"Set5": {4: (29.40, 0.8472)}, "Set14": {4: (26.02, 0.7397)},
               "B100": {4: (25.16, 0.6688)}})
_add("johnson", {"Set5": {4: (27.09, 0.7680)}, "Set14": {4: (24.99, 0.6731)}})


def published(arch: str, dataset: str, scale: int) -> Figure | None:
    """The paper's figure for (arch, dataset, scale), or None when it published none."""
    return PUBLISHED.get((arch, dataset, scale))
