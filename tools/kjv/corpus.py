"""The King James Bible as training text, from Debian's bible-kjv-text.

The `bible` program (package bible-kjv) prints the verses of
/usr/lib/bible.data (package bible-kjv-text); this module turns its output
into chapters of plain text, one verse per line without its number, and
splits them deterministically into training and held-out chapters.
"""

import re
import shutil
import subprocess

# Every chapter, Genesis 1 to Revelation 22, on unwrapped lines.
BIBLE_ARGS = ["-l100000", "Gen1:1-Rev22:21"]

HEADING = re.compile(r"^(\S.*) (\d+)$")      # "Genesis 1", "1 Samuel 3"
VERSE = re.compile(r"^\s+(\d+) (.+)$")       # "  1 In the beginning ..."


class CorpusError(Exception):
    pass


def bible_output():
    """The `bible` program's text of the whole book."""
    exe = shutil.which("bible")
    if not exe:
        raise CorpusError("the `bible` program is missing: apt-get install bible-kjv bible-kjv-text")
    run = subprocess.run([exe] + BIBLE_ARGS, capture_output=True, text=True)
    if run.returncode != 0 or not run.stdout.strip():
        raise CorpusError(f"bible {' '.join(BIBLE_ARGS)} failed (exit {run.returncode}): {run.stderr.strip()}")
    return run.stdout


def chapters(text):
    """[(book, chapter, [verse, ...]), ...] in the order of the book."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = HEADING.match(line)
        if m:
            out.append((m.group(1), int(m.group(2)), []))
            continue
        m = VERSE.match(line)
        if not m or not out:
            raise CorpusError(f"bible output line {n} is neither a heading nor a verse: {line[:60]!r}")
        verses = out[-1][2]
        if int(m.group(1)) != len(verses) + 1:
            raise CorpusError(f"bible output line {n}: verse {m.group(1)} follows verse {len(verses)}")
        verses.append(m.group(2).strip())
    if len(out) != 1189:
        raise CorpusError(f"expected the 1189 chapters of the King James Bible, got {len(out)}")
    return out


def chapter_text(chapter):
    """A chapter as the model sees it: one verse per line."""
    return "\n".join(chapter[2]) + "\n"


def split(chs, every=20):
    """(training chapters, held-out chapters): every `every`-th chapter,
    counted through the whole book, is held out."""
    train = [c for i, c in enumerate(chs) if i % every != every - 1]
    held = [c for i, c in enumerate(chs) if i % every == every - 1]
    return train, held
