"""Kernel names as profilers print them, shortened to the function name."""

from __future__ import annotations

# What _top_level leaves of a template or argument list.
_EMPTIED_GROUPS = ("()", "<>", "[]")


def _top_level(name: str) -> str:
    """Empty every bracket pair's contents: "void f<int>(float*)" -> "void f<>()"."""
    kept = []
    depth = 0
    for char in name:
        if char in "<([":
            if depth == 0:
                kept.append(char)
            depth += 1
        elif char in ">)]" and depth > 0:
            depth -= 1
            if depth == 0:
                kept.append(char)
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def short_kernel_name(name: str) -> str:
    """The function name alone: no return type, namespaces, template or argument list.

    "<unnamed>::prefill_fma_kernel(const float *, int)" -> "prefill_fma_kernel",
    "enable_if<!T7, void>::type kernel<int, float>(T13)" -> "kernel".
    """
    # A name truncated inside its argument list (nsys tables) leaves an unclosed "(" or "<".
    bare = _top_level(name).rstrip().rstrip("(<[").rstrip()
    while bare.endswith(_EMPTIED_GROUPS):
        bare = bare[:-2].rstrip()
    words = bare.split("::")[-1].split()
    return words[-1] if words else name.strip()
