#!/usr/bin/env python3
"""Writes the flexjit wheel: the package in python/flexjit with a
libflexjit_capi.so inside (flexjit/_lib/), tagged for Linux x86-64 (the
library is native code), for any Python 3. A wheel is a zip file with the
package, its METADATA, WHEEL and a RECORD of hashes (PEP 427); this writes
one directly, so building it needs nothing but Python.

    python3 scripts/make-wheel.py LIBRARY OUT_DIR
"""
import base64
import hashlib
import os
import re
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "python", "flexjit")
TAG = "py3-none-linux_x86_64"


def version():
    with open(os.path.join(PACKAGE, "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    library, out_dir = sys.argv[1], sys.argv[2]
    ver = version()
    dist_info = "flexjit-%s.dist-info" % ver
    files = []
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE, name), "rb") as f:
                files.append(("flexjit/" + name, f.read()))
    with open(library, "rb") as f:
        files.append(("flexjit/_lib/libflexjit_capi.so", f.read()))
    with open(os.path.join(ROOT, "python", "README.md"), "rb") as f:
        readme = f.read()
    metadata = ("Metadata-Version: 2.1\nName: flexjit\nVersion: %s\n"
                "Summary: FlexAttention compiled by flexjit: Python mods translated to the flex "
                "language, a PyTorch operator\nRequires-Python: >=3.9\n"
                "Provides-Extra: torch\nRequires-Dist: torch>=2.11; extra == \"torch\"\n"
                "Description-Content-Type: text/markdown\n\n" % ver).encode() + readme
    wheel = ("Wheel-Version: 1.0\nGenerator: flexjit scripts/make-wheel.py\n"
             "Root-Is-Purelib: false\nTag: %s\n" % TAG).encode()
    files += [(dist_info + "/METADATA", metadata), (dist_info + "/WHEEL", wheel)]
    record = [record_line(n, d) for n, d in files] + [dist_info + "/RECORD,,"]
    files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "flexjit-%s-%s.whl" % (ver, TAG))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
