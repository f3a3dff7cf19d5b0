"""Every architecture, one file per family. `ARCHS` is the registry's explicit list:
add a new family's spec here (and nowhere else) to register it."""

from sr_engine.archs import (
    bicubic,
    deepsr,
    drcn,
    edsr,
    espcn,
    fsrcnn,
    johnson,
    srcnn,
    srgan,
    vdsr,
    vespcn,
)
from sr_engine.registry import ArchSpec

ARCHS: tuple[ArchSpec, ...] = (
    bicubic.SPEC,
    srcnn.SPEC,
    fsrcnn.SPEC,
    espcn.SPEC,
    vdsr.SPEC,
    drcn.SPEC,
    edsr.SPEC,
    srgan.SRRESNET,
    srgan.SRGAN,
    srgan.DISCRIMINATOR,
    johnson.SPEC,
    vespcn.SPEC,
    deepsr.SPEC,
)

__all__ = ["ARCHS"]
