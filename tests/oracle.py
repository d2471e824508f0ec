"""Readers for the public captures' MANIFEST and tshark oracle files."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "captures"


def manifest() -> list[dict[str, str]]:
    with open(SHARED / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _rows(path: Path) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=False)) for ln in lines[1:]]


def tshark_frames(capture: str) -> dict[tuple[str, str], list[tuple]]:
    """Frames per (sender, receiver) as tshark 4.0 dissected them:
    ``(opcode, fin, rsv, masked, payload_len, close_code)`` in order."""
    path = SHARED / "oracle" / (capture + ".tshark-ext.txt")
    out: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for r in _rows(path):
        src = r["ip.src"] or f"[{r['ipv6.src']}]"
        dst = r["ip.dst"] or f"[{r['ipv6.dst']}]"
        key = (f"{src}:{r['tcp.srcport']}", f"{dst}:{r['tcp.dstport']}")
        ops = r["websocket.opcode"].split("|")
        fins = r["websocket.fin"].split("|")
        masks = r["websocket.mask"].split("|")
        rsvs = r["websocket.rsv"].split("|")
        lens = r["websocket.payload_length"].split("|")
        ext16 = [x for x in r["websocket.payload_length_ext_16"].split("|") if x]
        ext64 = [x for x in r["websocket.payload_length_ext_64"].split("|") if x]
        codes = [x for x in r["websocket.payload.close.status_code"].split("|") if x]
        for op, fin, rsv, mask, ln in zip(ops, fins, rsvs, masks, lens, strict=True):
            n = int(ln)
            if n == 126:
                n = int(ext16.pop(0))
            elif n == 127:
                n = int(ext64.pop(0))
            code = int(codes.pop(0)) if int(op) == 8 and n >= 2 and codes else None
            out[key].append(
                (int(op), fin in ("1", "True"), int(rsv, 16), mask in ("1", "True"), n, code)
            )
    return dict(out)


def tshark_handshakes(capture: str) -> list[dict[str, str]]:
    return _rows(SHARED / "oracle" / (capture + ".handshakes.tsv"))
