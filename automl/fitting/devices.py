"""Which JAX device a task runs its deep families on.

``auto`` picks an accelerator when JAX sees one (GPU, then TPU), else the CPU. Asking for a
platform that is not there is an error, never a silent fall-back. JAX is imported only
here and in the deep plugins, so classical-only work does not pay for it elsewhere.
"""

from __future__ import annotations

from automl.api.errors import AutomlError

DEVICES = ("auto", "cpu", "gpu", "tpu")


def available_platforms() -> dict[str, int]:
    """Number of local devices of each platform JAX can use here."""
    import jax
    found = {}
    for platform in ("gpu", "tpu", "cpu"):
        try:
            found[platform] = len(jax.local_devices(backend=platform))
        except RuntimeError:  # JAX raises when a backend is absent or fails to start
            continue
    return found


def resolve_device(name: str) -> str:
    """The platform to use for `name` (one of DEVICES); AutomlError if it is absent."""
    platforms = available_platforms()
    if name == "auto":
        return next(p for p in ("gpu", "tpu", "cpu") if p in platforms)
    if name not in platforms:
        have = ", ".join(f"{p} ({n} device{'s' if n > 1 else ''})"
                         for p, n in platforms.items())
        raise AutomlError(f"device '{name}' is not available", key="device",
                          expected="a platform JAX can see: " + have,
                          hint="use device = \"auto\" or \"cpu\", or install the JAX build "
                          f"for your {name.upper()}")
    return name


def describe_devices(platform: str, count: int | None = None) -> str:
    """A platform and its device count as the leaderboard shows it: ``cpu x2``."""
    if count is None:
        count = available_platforms().get(platform, 0)
    return f"{platform} x{count}"
