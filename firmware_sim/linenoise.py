"""Line noise on a serial link: damage a stream of frames or lines the way a bad cable, a
ground loop or a UART overrun does, and say which units (frames, lines) came through intact.

Each unit (one frame or one line with its terminator) is damaged with probability ``rate``
by one of: a flipped byte, a dropped run of bytes (an overrun; when it takes the terminator,
the line merges with the next one), an inserted run of random bytes, a truncation (the rest
of the unit is lost), or a burst of random bytes in place of the unit. ``damage`` returns
the damaged stream and, per unit, whether it arrived intact *and* started cleanly (its
predecessor's end survived), which is what a receiver needs to resynchronise on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("flip", "drop", "insert", "truncate", "burst")


@dataclass
class Damaged:
    data: bytes
    units: list  # the damaged units, one per unit sent (b"" when lost whole)
    intact: np.ndarray  # bool per unit: arrived unchanged, after a clean end of the previous unit
    damaged: np.ndarray  # bool per unit: touched by the noise
    kinds: dict  # kind -> count


def damage(units: list[bytes], rate: float, seed: int = 0, terminator: bytes | None = None,
           max_run: int = 12) -> Damaged:
    """Damage each of ``units`` with probability ``rate``; ``terminator`` (e.g. ``b"\\r\\n"``)
    is what ends a unit for the purpose of "started cleanly" (None: binary frames, which a
    receiver finds again by their sync bytes, so every unchanged frame counts as intact)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x11E5]))
    n = len(units)
    hit = rng.random(n) < rate
    kinds = rng.integers(0, len(KINDS), n)
    out: list[bytes] = []
    damaged = np.zeros(n, bool)
    clean_end = np.ones(n, bool)
    counts = {k: 0 for k in KINDS}
    for i, unit in enumerate(units):
        if not hit[i] or not unit:
            out.append(unit)
            continue
        kind = KINDS[int(kinds[i])]
        b = bytearray(unit)
        pos = int(rng.integers(len(b)))
        run = int(rng.integers(1, max_run + 1))
        if kind == "flip":
            b[pos] ^= int(rng.integers(1, 256))
        elif kind == "drop":
            del b[pos:pos + run]
        elif kind == "insert":
            b[pos:pos] = rng.integers(0, 256, run, dtype=np.uint8).tobytes()
        elif kind == "truncate":
            del b[pos:]
        else:  # burst
            b = bytearray(rng.integers(0, 256, len(b) + run, dtype=np.uint8).tobytes())
        new = bytes(b)
        if new == unit:
            out.append(unit)
            continue
        counts[kind] += 1
        damaged[i] = True
        if terminator is not None and not new.endswith(terminator):
            clean_end[i] = False
        out.append(new)
    started_clean = np.ones(n, bool)
    started_clean[1:] = clean_end[:-1]
    return Damaged(b"".join(out), out, ~damaged & started_clean, damaged, counts)


__all__ = ["Damaged", "KINDS", "damage"]
