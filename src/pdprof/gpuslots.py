"""One GPU per job: claim a free GPU of this node for a benchmark or profiler run, and say which.

`snakemake --resources gpu=N` lets N GPU jobs run at once; each must use a card of its own.
`claim()` takes an exclusive `fcntl.flock` on `<lock_dir>/<host>/<device>.lock` for the first free
device and sets CUDA_VISIBLE_DEVICES (HIP_VISIBLE_DEVICES on AMD) for the run's subprocesses.
The kernel drops a flock when its process dies, however it dies, so a crashed job leaks no slot.

Under a scheduler the allocation decides: CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES already
naming one device (what SLURM sets for a `--gpus=1` job) is used as it is, nothing locked. Several
devices already visible (e.g. `salloc --gpus=4`, then `snakemake --resources gpu=4` inside it) are
shared out the same way as the node's cards, one per job, with locks of that SLURM job's own.
Each run also gets a TMPDIR of its GPU's own (see `private_tmp`), so that Nsight Compute runs on
different GPUs do not wait for each other.

`Slot.tag()` is what the run records next to its results (`gpu_slot` in bench.json and
ncu_command.json): host, physical index, UUID, name, the visible-devices value and its source.

    python -m pdprof.gpuslots --lock-dir results/.gpu-slots [--hold SECONDS]   # claim, print JSON
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pdprof import gpu
from pdprof.errors import PointFailed

DEFAULT_LOCK_DIR = "results/.gpu-slots"
VISIBLE = {"cuda": "CUDA_VISIBLE_DEVICES", "hip": "HIP_VISIBLE_DEVICES"}
POLL_S = 0.25
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURMD_NODENAME")


@dataclass(frozen=True)
class Device:
    index: int  # the vendor tool's index (nvidia-smi: PCI bus order)
    uuid: str | None
    name: str | None


@dataclass(frozen=True)
class Slot:
    vendor: str | None  # cuda | hip | None (no GPU found)
    variable: str | None  # the environment variable that selects the device
    visible: str | None  # its value for the run
    source: str  # lock (claimed here) | slurm | preset (given by the caller) | none
    device: Device | None  # the physical device, where the vendor tool shows it
    lock: str | None  # the lock file held while the run lasts
    host: str
    slurm: dict  # SLURM_JOB_ID, SLURM_JOB_GPUS, ... where set

    def tag(self) -> dict:
        device = asdict(self.device) if self.device else {"index": None, "uuid": None, "name": None}
        return {
            "host": self.host,
            "source": self.source,
            "variable": self.variable,
            "visible_devices": self.visible,
            **device,
            "lock": self.lock,
            "slurm": self.slurm,
        }


def nvidia_devices() -> list[Device]:
    """Every GPU nvidia-smi shows (it ignores CUDA_VISIBLE_DEVICES; a cgroup may hide some)."""
    out = gpu.query(["nvidia-smi", "--query-gpu=index,uuid,name", "--format=csv,noheader"])
    devices = []
    for line in (out or "").strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 3 and fields[0].isdigit():
            devices.append(Device(int(fields[0]), fields[1] or None, ", ".join(fields[2:]) or None))
    return devices


def amd_devices() -> list[Device]:
    from pdprof.gpu import amd_gpus  # rocminfo, as the backend choice reads it

    return [Device(i, None, g.name) for i, g in enumerate(amd_gpus())]


def list_devices(vendor: str) -> list[Device]:
    return nvidia_devices() if vendor == "cuda" else amd_devices()


def detect_vendor(env: MutableMapping[str, str]) -> tuple[str | None, list[Device]]:
    """The vendor whose devices are visible here (a preset *_VISIBLE_DEVICES decides first)."""
    for vendor, variable in VISIBLE.items():
        if env.get(variable):
            return vendor, list_devices(vendor)
    for vendor in VISIBLE:
        devices = list_devices(vendor)
        if devices:
            return vendor, devices
    return None, []


def _physical(visible: str, devices: list[Device]) -> Device | None:
    """The device a one-entry visible-devices value names: a UUID, or a position in the list."""
    for device in devices:
        if device.uuid and device.uuid == visible:
            return device
    if visible.isdigit():
        # all devices shown: position == index; under a device cgroup only the allocated ones
        # are shown and the scheduler numbers them from 0, so the position is right either way
        position = int(visible)
        return devices[position] if position < len(devices) else None
    return None


def _lock_subdir(lock_dir: Path, host: str, job: str | None) -> Path:
    """Per host (results/ may be on a shared file system); per SLURM job where the devices are
    the ones that job was given (numbered from 0 in each job when the node confines devices)."""
    return lock_dir / (f"{host}-slurm{job}" if job else host)


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def _acquire(folder: Path, candidates: list[str], wait_s: float) -> tuple[str, int]:
    """The first free candidate and its locked fd; polls until `wait_s` has passed."""
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    announced = False
    while True:
        for candidate in candidates:
            fd = _try_lock(folder / f"{candidate}.lock")
            if fd is not None:
                return candidate, fd
        if time.monotonic() >= deadline:
            holders = "; ".join(f"{c}: {_holder(folder / f'{c}.lock')}" for c in candidates)
            raise PointFailed(
                f"no free GPU after {wait_s:g} s: all {len(candidates)} held ({holders}); "
                f"--resources gpu=N should not exceed the GPUs here (locks in {folder})"
            )
        if not announced:
            print(f"pdprof: all {len(candidates)} GPUs busy; waiting for one", file=sys.stderr)
            announced = True
        time.sleep(POLL_S)


def private_tmp(key: str) -> Path:
    """A temporary folder of this GPU's own: Nsight Compute serializes every profiling session of
    a host through $TMPDIR/nsight-compute-lock, so runs on different GPUs need different TMPDIRs
    to profile at the same time (runs on one GPU still share it, and wait for each other)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    path = Path(tempfile.gettempdir()) / f"pdprof-gpu-{os.getuid()}-{safe}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextlib.contextmanager
def claim(
    lock_dir: str | Path | None = DEFAULT_LOCK_DIR,
    wait_s: float = 3600.0,
    env: MutableMapping[str, str] | None = None,
    label: str = "",
) -> Iterator[Slot]:
    """Hold one GPU for the duration of the block; its selection is set in `env` (os.environ).

    Sets the vendor's *_VISIBLE_DEVICES (and CUDA_DEVICE_ORDER=PCI_BUS_ID where it numbers the
    node's cards itself) and a per-GPU TMPDIR. Waits up to `wait_s` for a free device when all
    are held, then raises PointFailed. The environment is restored and the lock released on exit.
    """
    env = os.environ if env is None else env
    host = socket.gethostname().split(".")[0]
    slurm = {k: env[k] for k in SLURM_VARIABLES if env.get(k)}
    vendor, devices = detect_vendor(env)
    variable = VISIBLE.get(vendor) if vendor else None
    preset = [v.strip() for v in env.get(variable, "").split(",") if v.strip()] if variable else []

    if vendor is None:
        yield Slot(None, None, None, "none", None, None, host, slurm)
        return
    if len(preset) != 1 and lock_dir is None:
        # no lock folder: nothing is claimed, the run sees what the caller left visible
        yield Slot(vendor, variable, ",".join(preset) or None, "none", None, None, host, slurm)
        return

    fd = lock = None
    if len(preset) == 1:
        # the scheduler's (or the caller's) choice, used as it is
        visible, source = preset[0], "slurm" if slurm.get("SLURM_JOB_ID") else "preset"
        device = _physical(visible, devices)
    else:
        # several preset devices: share those out; none preset: the node's cards
        candidates = preset or [str(d.index) for d in devices]
        folder = _lock_subdir(Path(lock_dir), host, slurm.get("SLURM_JOB_ID") if preset else None)
        visible, fd = _acquire(folder, candidates, wait_s)
        lock, source = str(folder / f"{visible}.lock"), "lock"
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} {label}\n".encode())
        device = (
            _physical(visible, devices) if preset else next(d for d in devices if str(d.index) == visible)
        )
    try:
        saved = {k: env.get(k) for k in (variable, "CUDA_DEVICE_ORDER", "TMPDIR")}
        env[variable] = visible
        if vendor == "cuda" and not preset:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # CUDA numbers the cards as nvidia-smi does
        job = slurm.get("SLURM_JOB_ID")
        key = (device.uuid if device and device.uuid else None) or f"{host}-{job or 'local'}-{visible}"
        env["TMPDIR"] = str(private_tmp(key))
        try:
            yield Slot(vendor, variable, visible, source, device, lock, host, slurm)
        finally:
            for key, value in saved.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock; a killed process's is released by the kernel


def tag_json(path: str | Path, slot: Slot | None) -> None:
    """Add `gpu_slot` to a JSON object file the run wrote (bench.json, ncu_command.json)."""
    if slot is None:
        return
    path = Path(path)
    data = json.loads(path.read_text())
    data["gpu_slot"] = slot.tag()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pdprof.gpuslots", description=__doc__.splitlines()[0])
    parser.add_argument("--lock-dir", default=DEFAULT_LOCK_DIR)
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to hold the GPU after printing")
    parser.add_argument("--wait", type=float, default=3600.0, help="seconds to wait for a free GPU")
    args = parser.parse_args(argv)
    try:
        with claim(args.lock_dir, args.wait, label="gpuslots") as slot:
            print(json.dumps(slot.tag()), flush=True)
            time.sleep(args.hold)
    except PointFailed as exc:
        print(f"pdprof gpuslots: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
