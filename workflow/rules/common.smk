# Shared helpers: where a point's raw profiler outputs live for this backend.


wildcard_constraints:
    gpu=r"[a-z0-9][a-z0-9._-]*",
    point=pdconfig.POINT_ID_PATTERN,
    profiler="|".join(PROFILERS),


KERNELS = REPO / "kernels"


def raw_root(wildcards):
    """results/<gpu> for a live run; the capture bundle for replay."""
    if BACKEND.kind == "replay":
        return BACKEND.captures
    return Path("results") / wildcards.gpu


def raw_file(name):
    def locate(wildcards):
        return str(Path(raw_root(wildcards)) / "runs" / wildcards.point / name)

    return locate


def provenance_file(wildcards):
    return str(Path(raw_root(wildcards)) / "provenance.json")


def calibration_file(wildcards):
    return str(Path(raw_root(wildcards)) / "calibration.json")


def point_progress(wildcards):
    """'3/10': where a point stands in the sweep, for one console line per measurement."""
    return f"{POINTS.index(wildcards.point) + 1}/{len(POINTS)}"
