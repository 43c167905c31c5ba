#!/usr/bin/env python3
"""Line-level profile of a loaded BPF program, where `perf annotate` cannot
go (it does not disassemble JIT images) and this machine's bpftool has no
disassembler.

Samples every CPU with `perf record -a` for a while, then maps each sample
that falls inside the program's JIT image to the source line the verifier
recorded for it: the program's `jited_line_info` (JIT address of each line
record), its `line_info` (the xlated instruction each record starts at) and
the source comments `bpftool prog dump xlated linum` prints. Prints the
share of all samples (idle included) by source file, by line, and by
xlated instruction.

    bench/tools/bpf_line_profile.py --name vpc_router --seconds 10

Run it while the program runs, e.g. beside
`VPC_BENCH_PROFILE=5 VPC_BENCH_PROFILE_CACHES=lookup <micro bench> --bench`
(tests/bench_micro.rs). Needs root, perf and bpftool. A sample lands a few
instructions after the one that stalled (no precise IP on this VM): read a
hot line as "at or just before here".
"""
import argparse
import bisect
import collections
import ctypes
import re
import struct
import subprocess
import tempfile

SYS_BPF = 321  # x86_64
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
# struct bpf_prog_info (include/uapi/linux/bpf.h): the offsets used below.
INFO_LEN = 240
OFF_NR_JITED_KSYMS = 104  # nr_jited_ksyms, nr_jited_func_lens (u32 each)
OFF_JITED_KSYMS = 112  # jited_ksyms, jited_func_lens (u64 pointers)
OFF_NR_LINE_INFO = 148  # u32
OFF_LINE_INFO = 152  # line_info, jited_line_info (u64 pointers)
OFF_NR_JITED_LINE_INFO = 168  # nr_jited_line_info, line_info_rec_size, jited_line_info_rec_size
LINE_INFO_REC = 16  # struct bpf_line_info: insn_off, file_name_off, line_off, line_col

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    r = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), f"bpf({cmd})")
    return r


def prog_info(fd, info):
    attr = struct.pack("IIQ", fd, INFO_LEN, ctypes.addressof(info)) + b"\0" * 112
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr)


def jit_map(prog_id):
    """(image address ranges, sorted JIT addresses of line records, their xlated insn offsets)"""
    fd = bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("I", prog_id) + b"\0" * 124)
    first = ctypes.create_string_buffer(INFO_LEN)
    prog_info(fd, first)
    nr_ksyms, nr_lens = struct.unpack_from("II", first.raw, OFF_NR_JITED_KSYMS)
    (nr_line,) = struct.unpack_from("I", first.raw, OFF_NR_LINE_INFO)
    (nr_jline,) = struct.unpack_from("I", first.raw, OFF_NR_JITED_LINE_INFO)
    ksyms = (ctypes.c_uint64 * nr_ksyms)()
    lens = (ctypes.c_uint32 * nr_lens)()
    lines = ctypes.create_string_buffer(nr_line * LINE_INFO_REC)
    jlines = (ctypes.c_uint64 * nr_jline)()
    ask = bytearray(INFO_LEN)
    struct.pack_into("II", ask, OFF_NR_JITED_KSYMS, nr_ksyms, nr_lens)
    struct.pack_into("QQ", ask, OFF_JITED_KSYMS, ctypes.addressof(ksyms), ctypes.addressof(lens))
    struct.pack_into("I", ask, OFF_NR_LINE_INFO, nr_line)
    struct.pack_into("QQ", ask, OFF_LINE_INFO, ctypes.addressof(lines), ctypes.addressof(jlines))
    struct.pack_into("III", ask, OFF_NR_JITED_LINE_INFO, nr_jline, LINE_INFO_REC, 8)
    second = ctypes.create_string_buffer(bytes(ask), INFO_LEN)
    prog_info(fd, second)
    ranges = [(ksyms[i], ksyms[i] + lens[i]) for i in range(min(nr_ksyms, nr_lens))]
    insn_of = [struct.unpack_from("I", lines.raw, i * LINE_INFO_REC)[0] for i in range(nr_line)]
    pairs = sorted((jlines[i], insn_of[i]) for i in range(min(nr_jline, nr_line)))
    return ranges, [a for a, _ in pairs], [n for _, n in pairs]


def sources(prog_id):
    """xlated insn offset -> the source comment bpftool prints before it,
    with the name of the map the instruction loads, if it loads one (a
    lookup's line is the helper binding's, the same for every map)"""
    out = subprocess.run(["bpftool", "prog", "dump", "xlated", "id", str(prog_id), "linum"],
                         capture_output=True, text=True, check=True).stdout
    maps = subprocess.run(["bpftool", "map", "show"], capture_output=True, text=True, check=True).stdout
    map_name = {int(m.group(1)): m.group(2) for m in re.finditer(r"^(\d+): \S+\s+name (\S+)", maps, re.M)}
    src, cur = {}, None
    for line in out.splitlines():
        if line.startswith(";"):
            cur = line[1:].strip()
        else:
            m = re.match(r"\s*(\d+): \(", line)
            if m:
                ref = re.search(r"map\[id:(\d+)\]", line)
                name = map_name.get(int(ref.group(1)), "?") if ref else None
                src[int(m.group(1))] = f"{name}: {cur}" if name else cur
    return src


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="vpc_router", help="program name (bpftool prog show); the newest one")
    ap.add_argument("--id", type=int, help="program id instead of --name")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    prog_id = a.id
    if prog_id is None:
        shown = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True, check=True).stdout
        ids = [int(m.group(1)) for m in re.finditer(rf"^(\d+): \S+\s+name {re.escape(a.name)}\s", shown, re.M)]
        if not ids:
            raise SystemExit(f"no program named {a.name} is loaded")
        prog_id = max(ids)
    ranges, addrs, insns = jit_map(prog_id)
    src = sources(prog_id)
    with tempfile.TemporaryDirectory() as d:
        data = f"{d}/perf.data"
        subprocess.run(["perf", "record", "-q", "-a", "-o", data, "--", "sleep", str(a.seconds)], check=True)
        ips = subprocess.run(["perf", "script", "-i", data, "-F", "ip"], capture_output=True, text=True).stdout
    total, inside = 0, 0
    by_insn = collections.Counter()
    for tok in ips.split():
        try:
            ip = int(tok, 16)
        except ValueError:
            continue
        total += 1
        if not any(lo <= ip < hi for lo, hi in ranges):
            continue
        inside += 1
        k = bisect.bisect_right(addrs, ip) - 1
        by_insn[insns[k] if k >= 0 else -1] += 1
    pct = lambda n: 100.0 * n / max(total, 1)
    print(f"program {prog_id}: {inside} of {total} samples ({pct(inside):.1f}%, idle included)")
    by_line, by_file = collections.Counter(), collections.Counter()
    for insn, n in by_insn.items():
        s = src.get(insn) or "?"
        line = re.sub(r"\s*\[file:.*$", "", s)
        m = re.search(r"file:(\S+) line_num:(\d+)", s)
        where = f"{m.group(1).split('/')[-1]}:{m.group(2)}" if m else "?"
        by_line[(where, line)] += n
        by_file[where.split(":")[0]] += n
    print("\n-- by file")
    for f, n in by_file.most_common(a.top):
        print(f"{pct(n):5.1f}%  {f}")
    print("\n-- by line")
    for (where, line), n in by_line.most_common(a.top):
        print(f"{pct(n):5.1f}%  {where:24s} {line[:100]}")
    print("\n-- by xlated instruction (bpftool prog dump xlated id N)")
    for insn, n in by_insn.most_common(a.top):
        print(f"{pct(n):5.1f}%  {insn:6d}  {(src.get(insn) or '?')[:100]}")


if __name__ == "__main__":
    main()
