# SPDX-License-Identifier: GPL-2.0
"""Reading edged's pinned BPF maps from the host: how many entries a map holds, and its size.

edged pins its maps under /sys/fs/bpf/edged/<instance>/ (the host's bpffs, shared by the lab's
namespaces). Counting the entries of a 256k-entry map with `bpftool map dump` takes about
5 s (it prints every key and value); walking the keys with BPF_MAP_GET_NEXT_KEY here takes
a fraction of that. Only the bpf(2) commands that read are used.
"""
import ctypes
import os
import platform

from .errors import LabError

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
BPF_MAP_GET_NEXT_KEY = 4
BPF_OBJ_GET = 7
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_F_RDONLY = 1 << 3
MAP_TYPES = {1: "hash", 2: "array", 5: "percpu_hash", 6: "percpu_array", 9: "lru_hash", 10: "lru_percpu_hash",
             11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps", 27: "ringbuf"}

_libc = ctypes.CDLL(None, use_errno=True)


class _ObjGet(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32), ("file_flags", ctypes.c_uint32)]


class _NextKey(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("next_key", ctypes.c_uint64)]


class _InfoByFd(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32), ("info", ctypes.c_uint64)]


class _MapInfo(ctypes.Structure):  # the head of struct bpf_map_info (the kernel fills what fits)
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32), ("map_flags", ctypes.c_uint32),
                ("name", ctypes.c_char * 16)]


def _bpf(cmd, attr):
    if SYS_BPF is None:
        raise LabError(f"reading BPF maps is not supported on {platform.machine()}")
    r = _libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    return r, ctypes.get_errno()


def _open(path):
    p = ctypes.create_string_buffer(path.encode())
    attr = _ObjGet(pathname=ctypes.addressof(p), file_flags=BPF_F_RDONLY)
    fd, err = _bpf(BPF_OBJ_GET, attr)
    if fd < 0:
        raise LabError(f"cannot open pinned BPF map {path}: {os.strerror(err)}",
                       fix="is edged running on that edge with the function that owns the map turned on?")
    return fd


def _info(fd):
    info = _MapInfo()
    attr = _InfoByFd(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    r, err = _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    if r < 0:
        raise LabError(f"BPF_OBJ_GET_INFO_BY_FD failed: {os.strerror(err)}")
    return info


def map_summary(path, limit=10_000_000):
    """{'name', 'type', 'entries', 'max_entries', 'key_size', 'value_size'} of the map pinned at PATH."""
    fd = _open(path)
    try:
        info = _info(fd)
        key = ctypes.create_string_buffer(max(1, info.key_size))
        nxt = ctypes.create_string_buffer(max(1, info.key_size))
        attr = _NextKey(map_fd=fd, key=0, next_key=ctypes.addressof(nxt))
        n = 0
        while n < limit:
            r, err = _bpf(BPF_MAP_GET_NEXT_KEY, attr)
            if r < 0:
                break  # ENOENT: the last key (an LRU map may also lose a key while we walk it)
            n += 1
            ctypes.memmove(key, nxt, info.key_size)
            attr.key = ctypes.addressof(key)
        return {"name": info.name.decode(errors="replace"), "type": MAP_TYPES.get(info.type, str(info.type)),
                "entries": n, "max_entries": info.max_entries, "key_size": info.key_size,
                "value_size": info.value_size}
    finally:
        os.close(fd)
