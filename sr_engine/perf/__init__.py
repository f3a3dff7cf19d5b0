"""The side-by-side performance table (`sr-engine benchmark --perf`, run by `make bench`).

Each shipped model runs on the same input in several ways, each in its own fresh process so
its peak memory is its own: this engine as the CLI and web run it, the same engine on the
whole image (the tiling overhead), a plain NCHW fp32 forward (what BasicSR's test script
does on a CPU) and Real-ESRGAN's tile loop (a labelled re-implementation: the `realesrgan`
package needs a torchvision API that no longer exists). Beside them, measured in the same
run: a 64->64 3x3 convolution in channels_last fp32 and bf16 (the conv roofline) and a large
tensor copy (memory bandwidth), so seconds become "percent of what this machine can do".

Modules: `measure` (FLOP counts and microbenchmarks), `methods` (the ways of running a
model), `cell` (one measurement in a child process), `table` (the run, the markdown, the
JSON kept for the regression guard).
"""

# Defaults here, not in `table`, so the CLI's parser has them without importing torch.
DEFAULT_MODELS = ("edsr_x4", "srresnet_x4", "vdsr_x4", "espcn_x4")
DEFAULT_SIZES = ("480x320", "2000x1500")
