"""Large hostile files, built once under ROOT/assets ($LAB_REDTEAM_DIR, default /tmp/redteam) and
hard-linked into cases."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

ASSETS = Path(os.environ.get("LAB_REDTEAM_DIR", "/tmp/redteam")) / "assets"
ASSETS.mkdir(parents=True, exist_ok=True)


def _build(name: str, fn) -> Path:
    path = ASSETS / name
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".tmp")
        fn(tmp)
        os.replace(tmp, path)
    return path


def link(name: str, fn, dest: Path) -> None:
    src = _build(name, fn)
    if dest.exists() or dest.is_symlink():
        if dest.is_dir() and not dest.is_symlink():
            import shutil
            shutil.rmtree(dest)
        else:
            dest.unlink()
    os.link(src, dest)


def _repeat(path: Path, head: bytes, unit: bytes, n: int, tail: bytes) -> None:
    with open(path, "wb") as f:
        f.write(head)
        block = unit * 65536
        full, rest = divmod(n, 65536)
        for _ in range(full):
            f.write(block)
        f.write(unit * rest)
        f.write(tail)


# --- JSON / events
def huge_line_events(path):  # one 300 MB line, then a good eval line
    with open(path, "wb") as f:
        f.write(b'{"t":1,"kind":"log","level":"info","message":"')
        chunk = b"A" * (1 << 20)
        for _ in range(300):
            f.write(chunk)
        f.write(b'"}\n{"t":2,"kind":"eval","step":10,"mean":1.0,"std":0.0,"episodes":1}\n')


def tiny_lines_events(path):  # 400 MB of tiny low-rate lines
    _repeat(path, b"", b'{"kind":"z"}\n', 31_000_000, b"")


def many_evals_events(path):  # 300 MB of eval lines (a kind lab keeps)
    unit = b'{"t":1,"kind":"eval","step":1,"mean":1,"std":0,"episodes":1}\n'
    _repeat(path, b"", unit, 300_000_000 // len(unit), b"")


def episodes_events(path):  # 4M episode lines
    unit = b'{"t":1.0,"kind":"episode","step":100,"return":10.0,"length":10,"rolling_return":10.0}\n'
    _repeat(path, b"", unit, 4_000_000, b"")


def summary_dicts(path):  # 120 MB of empty objects in an unknown key
    _repeat(path, b'{"state":"completed","x":[', b"{},", 40_000_000, b'{}]}')


def summary_zeros(path):  # 200 MB of small ints in an unknown key
    _repeat(path, b'{"state":"completed","x":[', b"0,", 100_000_000, b'0]}')


def summary_error_200mb(path):
    with open(path, "wb") as f:
        f.write(b'{"id":"x","experiment":"e","kind":"rl","state":"failed","started":1796599751.0,"ended":1796599752.0,"error":"')
        chunk = b"E\\u001b]0;PWNED\\u0007" * 50000
        n = 200_000_000 // len(chunk)
        for _ in range(n):
            f.write(chunk)
        f.write(b'"}')


def comparison_dicts(path):  # 300 MB comparison.json of empty objects
    _repeat(path, b'{"samples":5,"x":[', b"{},", 100_000_000, b'{}]}')


def sweep_json_worst(path):  # ~64 MB of tiny objects (under the 64 MiB limit)
    _repeat(path, b'[', b"{},", 22_000_000, b'{}]')


def deep_json(path, depth=100_000):
    path.write_bytes(b"[" * depth + b"]" * depth)


def big_toml(path):  # 200 MB TOML array
    _repeat(path, b'name = "x"\nkind = "rl"\nx = [', b"0,", 100_000_000, b"0]\n")


def big_yaml(path):
    _repeat(path, b"CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  junk: [", b"0, ", 20_000_000, b"0]\n")


# --- zip bombs
def _zip_bomb(path, member: str, size: int, extra: dict | None = None):
    """A zip whose `member` inflates to `size` zero bytes (deflate), plus small `extra` members."""
    zeros = b"\0" * (1 << 24)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc, out = 0, []
    for _ in range(size // len(zeros)):
        out.append(comp.compress(zeros))
        crc = zlib.crc32(zeros, crc)
    out.append(comp.flush())
    data = b"".join(out)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in (extra or {}).items():
            z.writestr(name, blob)
    # append the bomb member by hand (zipfile cannot write pre-compressed data)
    with open(path, "r+b") as f:
        zf = zipfile.ZipFile(f, "a")
        info = zipfile.ZipInfo(member)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.CRC, info.compress_size, info.file_size = crc, len(data), size
        # write with zipfile's machinery: use a raw writer
        zf.fp.seek(zf.start_dir)
        info.header_offset = zf.fp.tell()
        info._compresslevel = 9
        zf.fp.write(info.FileHeader(zip64=size > 0xFFFFFFFF))
        zf.fp.write(data)
        zf.start_dir = zf.fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[member] = info
        zf._didModify = True
        zf.close()


def sb3_zip_bomb_from(src: Path):
    def build(path):
        with zipfile.ZipFile(src) as z:
            extra = {n: z.read(n) for n in z.namelist() if n != "policy.pth"}
        _zip_bomb(path, "policy.pth", 6 << 30, extra)
    return build


def npz_bomb(path):
    # an .npz whose member is an .npy header for 6 GiB of uint8 zeros, deflated
    header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % (6 << 30)
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    size = 6 << 30
    zeros = b"\0" * (1 << 24)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = zlib.crc32(npy)
    out = [comp.compress(npy)]
    for _ in range(size // len(zeros)):
        out.append(comp.compress(zeros))
        crc = zlib.crc32(zeros, crc)
    out.append(comp.flush())
    data = b"".join(out)
    with open(path, "wb") as f:
        zf = zipfile.ZipFile(f, "w")
        info = zipfile.ZipInfo("observations.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        info.CRC, info.compress_size, info.file_size = crc, len(data), size + len(npy)
        info.header_offset = 0
        f.write(info.FileHeader(zip64=True))
        f.write(data)
        zf.start_dir = f.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf._didModify = True
        zf.close()


def torch_bomb_from(src: Path):
    """A torch checkpoint (zip) whose first tensor's storage is replaced by a deflated member of
    6 GiB of zeros, the pickle's size for it raised to match."""
    def build(path):
        import re
        with zipfile.ZipFile(src) as z:
            names = z.namelist()
            members = {n: z.read(n) for n in names}
        pkl_name = next(n for n in names if n.endswith("data.pkl"))
        prefix = pkl_name[: -len("data.pkl")]
        data_names = sorted(n for n in names if re.fullmatch(re.escape(prefix) + r"data/\d+", n))
        victim = data_names[0]
        size = 6 << 30
        members[victim] = None
        extra = {n: b for n, b in members.items() if b is not None}
        _zip_bomb(path, victim, size, extra)
    return build
