#!/usr/bin/env python3
"""Prints the pip requirements that provide the shared libraries an
installed PyTorch (installed with --no-deps) still lacks, one per line.

PyPI's Linux torch wheel links against NVIDIA's CUDA libraries and pulls
them all in as dependencies (gigabytes). flexjit's tests only run torch on
the CPU, but torch must still load: its libraries need every CUDA library
they were linked with. scripts/bootstrap.sh installs torch with --no-deps
and then only what `ldd` finds missing, at the versions torch's own
metadata pins (a machine with the CUDA toolkit needs three small wheels; a
bare one needs the whole set).

    python scripts/torch-missing-libs.py SITE_PACKAGES
"""
import glob
import os
import re
import subprocess
import sys

# The library (soname prefix) -> the requirement of torch's metadata that
# provides it: an nvidia-* package, or an extra of the cuda-toolkit package.
PROVIDERS = {
    "libcudnn": "nvidia-cudnn-cu13",
    "libnccl": "nvidia-nccl-cu13",
    "libnvshmem": "nvidia-nvshmem-cu13",
    "libcusparseLt": "nvidia-cusparselt-cu13",
    "libcudart": "cuda-toolkit[cudart]",
    "libcublasLt": "cuda-toolkit[cublas]",
    "libcublas": "cuda-toolkit[cublas]",
    "libcufft": "cuda-toolkit[cufft]",
    "libcufile": "cuda-toolkit[cufile]",
    "libcupti": "cuda-toolkit[cupti]",
    "libcurand": "cuda-toolkit[curand]",
    "libcusolver": "cuda-toolkit[cusolver]",
    "libcusparse": "cuda-toolkit[cusparse]",
    "libnvJitLink": "cuda-toolkit[nvjitlink]",
    "libnvrtc": "cuda-toolkit[nvrtc]",
    "libnvToolsExt": "cuda-toolkit[nvtx]",
}


def torch_pins(site):
    """{package name: version spec} from torch's Requires-Dist."""
    pins = {}
    for meta in glob.glob(os.path.join(site, "torch-*.dist-info", "METADATA")):
        with open(meta) as f:
            for line in f:
                m = re.match(r"Requires-Dist: ([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(==[^;\s]+)", line)
                if m:
                    pins[m.group(1).lower()] = m.group(3)
    return pins


def missing_libraries(site):
    """Sonames that torch's libraries need and the loader cannot find."""
    missing = set()
    for lib in glob.glob(os.path.join(site, "torch", "lib", "*.so*")):
        out = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*(\S+) => not found", line)
            if m and m.group(1) != "libcuda.so.1":  # the driver: loaded lazily, never a wheel
                missing.add(m.group(1))
    return sorted(missing)


def requirements(site):
    pins = torch_pins(site)
    reqs, unknown = [], []
    for soname in missing_libraries(site):
        base = soname.split(".so")[0]
        matches = [k for k in PROVIDERS if base == k or base.startswith(k + "_")]
        provider = PROVIDERS[max(matches, key=len)] if matches else None
        if provider is None:
            unknown.append(soname)
            continue
        name = provider.split("[")[0]
        req = provider + pins.get(name, "")
        if req not in reqs:
            reqs.append(req)
    # cuda-toolkit extras go in one requirement.
    extras = sorted({r[r.index("[") + 1:r.index("]")] for r in reqs if r.startswith("cuda-toolkit")})
    others = [r for r in reqs if not r.startswith("cuda-toolkit")]
    if extras:
        others.append("cuda-toolkit[%s]%s" % (",".join(extras), pins.get("cuda-toolkit", "")))
    return others, unknown


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    reqs, unknown = requirements(sys.argv[1])
    for soname in unknown:
        print("torch-missing-libs: no known wheel provides %s" % soname, file=sys.stderr)
    print("\n".join(reqs))
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
