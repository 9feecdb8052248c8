"""File names for the report's pages and pictures: readable, unique, portable.

A name comes from what users typed (a student's name) or a file's path, and must survive a
zip file, an e-mail, a web server and a case-insensitive file system (Windows, macOS):

- letters lose their accents (``Zoë Müller`` -> ``Zoe-Muller``); a name with no Latin letter
  keeps its own letters (``李雷`` -> ``李雷``); anything else becomes ``-``;
- at most ``MAX_STEM`` characters (a long name is cut and ends with a hash of the whole name);
- names that would share a file (``José`` and ``Josè``, ``Anna Smith`` and ``Anna/Smith``,
  ``anna`` and ``Anna``) each get a short hash of the whole name: ``Jose-1f9c2a``; so nothing
  is overwritten, and the same set of names always gives the same files;
- never a device name of Windows (``CON``, ``NUL``, ...), never hidden (a leading ``.``).

The page itself shows the name as typed (HTML-escaped); only the file name is simplified.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

#: Longest stem: ``<stem>-hold123.png`` stays far below the 255 bytes a file name may have.
MAX_STEM = 60
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def _hash(text: str, n: int = 6) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def readable_stem(text: str) -> str:
    """A readable file-name stem for ``text`` (not yet unique)."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", plain.encode("ascii", "ignore").decode("ascii"))
    s = re.sub(r"-{2,}", "-", s).strip("-.")
    if not re.search(r"[A-Za-z0-9]", s):  # no Latin letters at all: keep the name's own letters
        s = re.sub(r"[^\w.-]+", "-", unicodedata.normalize("NFC", text), flags=re.UNICODE)
        s = re.sub(r"-{2,}", "-", s).strip("-._")
    if len(s) > MAX_STEM:
        s = s[: MAX_STEM - 7].rstrip("-.") + "-" + _hash(text)
    if not s:
        s = "x-" + _hash(text)
    if s.split(".")[0].upper() in _WINDOWS_DEVICES:
        s += "-"
    return s


def unique_stems(names) -> dict[str, str]:
    """A stem for every distinct name; names whose stems would clash (compared without case)
    all get a hash of the whole name."""
    names = list(dict.fromkeys(names))
    stems = {n: readable_stem(n) for n in names}
    by_key: dict[str, list[str]] = {}
    for n, s in stems.items():
        by_key.setdefault(s.casefold(), []).append(n)
    out = {}
    for key, group in by_key.items():
        for n in group:
            s = stems[n]
            if len(group) > 1:
                base = s[: MAX_STEM - 7].rstrip("-.") if len(s) > MAX_STEM - 7 else s
                s = f"{base}-{_hash(n)}"
            out[n] = s
    # a hashed stem could, in theory, equal another name's plain stem: hash longer until unique
    seen: dict[str, str] = {}
    for n in names:
        s = out[n]
        k = 8
        while s.casefold() in seen and seen[s.casefold()] != n:
            s = f"{readable_stem(n)[:MAX_STEM - k - 1]}-{_hash(n, k)}"
            k += 2
        out[n] = s
        seen[s.casefold()] = n
    return out
