"""Decode throughput: firefleet's compiled block decoder against a straightforward per-point decode.

Both decode the same register blocks of the shipped profiles into engineering values (scale, offset,
sentinels, enums, bits). The baseline does what most gateways do: for each point, pack its words and
struct-unpack them, then apply scale. Prints registers per second for each, side by side, and the ratio.

    python bench/codecs.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.decode import BlockDecoder, ReadBlock, decode_point, plan_reads, to_engineering
from devices.profile import BIT_TABLES
from devices.profile_loader import load_profile_dir

_CODES = {"u16": "H", "i16": "h", "u32": "I", "i32": "i", "u64": "Q", "i64": "q", "f32": "f", "f64": "d"}


def baseline_decode(block: ReadBlock, words: list[int]) -> dict[str, object]:
    """Per point: slice, pack, reorder, unpack, scale. No precompilation."""
    out: dict[str, object] = {}
    for p in block.points:
        i = p.address - block.start
        chunk = words[i:i + p.width]
        if p.table in BIT_TABLES:
            out[p.name] = bool(chunk[0])
        elif p.type == "bit":
            out[p.name] = bool((chunk[0] >> (p.bit or 0)) & 1)
        elif p.type == "string":
            out[p.name] = decode_point(p, chunk)
        else:
            if p.word_swap:
                chunk = chunk[::-1]
            raw = struct.pack(f"{'<' if p.byte_swap else '>'}{len(chunk)}H", *chunk)
            out[p.name] = to_engineering(p, struct.unpack(">" + _CODES[p.type], raw)[0])
    return out


def workload() -> list[tuple[ReadBlock, list[int]]]:
    rng = random.Random(7)
    work = []
    for profile in load_profile_dir().values():
        if profile.transport != "modbus" or profile.abstract:
            continue
        for block in plan_reads(profile.points, profile.quirks):
            top = 1 if block.table in BIT_TABLES else 0x7FFF
            work.append((block, [rng.randint(0, top) for _ in range(block.count)]))
    return work


def measure(fn: object, work: list[tuple[ReadBlock, list[int]]], seconds: float) -> float:
    registers = sum(len(w) for _, w in work)
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for item in work:
            fn(*item)  # type: ignore[operator]
        done += registers
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is printed")
    args = parser.parse_args()
    work = workload()
    decoders = {id(block): BlockDecoder(block) for block, _ in work}
    for block, words in work:  # both must agree before either is timed
        fast, slow = decoders[id(block)].decode(words), baseline_decode(block, words)
        assert fast.keys() == slow.keys() and all(
            fast[k] == slow[k] or fast[k] != fast[k] for k in fast), block

    def compiled(block: ReadBlock, words: list[int]) -> object:
        return decoders[id(block)].decode(words)

    points = sum(len(b.points) for b, _ in work)
    registers = sum(len(w) for _, w in work)
    print(f"workload: {len(work)} read blocks, {points} points, {registers} registers "
          f"(every Modbus profile in firmware-profiles/)")
    ours, base = [], []
    for r in range(args.rounds):
        base.append(measure(baseline_decode, work, args.seconds))
        ours.append(measure(compiled, work, args.seconds))
        print(f"  round {r + 1}: per-point struct {base[-1]:>12,.0f} reg/s   compiled blocks {ours[-1]:>12,.0f} reg/s",
              flush=True)
    b, o = sorted(base)[len(base) // 2], sorted(ours)[len(ours) // 2]
    print(f"median: per-point struct decode {b:,.0f} registers/s; firefleet BlockDecoder {o:,.0f} registers/s; "
          f"ratio {o / b:.2f}x")



if __name__ == "__main__":
    main()
