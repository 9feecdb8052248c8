"""Grading many recordings: labels, parallel workers (scoring and hold pictures), students."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nmt_monitor.errors import UserError
from nmt_monitor.grading.rubric import Rubric
from nmt_monitor.grading.scoring import SessionGrade, StudentGrade, grade_students, score_session


def session_labels(paths: list[str]) -> list[str]:
    """Short unique names: the path relative to the folder all inputs share, without suffix."""
    absolute = [os.path.abspath(p) for p in paths]
    if len(absolute) == 1:
        return [Path(absolute[0]).stem]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute])
    labels = [os.path.splitext(os.path.relpath(p, root))[0].replace(os.sep, "/") for p in absolute]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        n = seen.get(label, 0)
        seen[label] = n + 1
        out.append(label if n == 0 else f"{label}~{n + 1}")
    return out


class ReportWriteError(UserError):
    """The report cannot be written (a full disk, a read-only folder): stops the whole batch."""

    fatal = True


#: Where the report's pictures go, below ``DIR/img``.
HOLD_IMAGES = "holds"
STUDENT_IMAGES = "students"


@dataclass
class GradeJob:
    """Picklable worker: grade one file, and draw its holds into ``image_dir/holds`` if given."""

    rubric: Rubric
    image_dir: str | None = None

    def __call__(self, item: tuple[str, str, str]) -> SessionGrade:
        from nmt_monitor.loaders import load_recording

        path, label, page = item
        rec = load_recording(path)
        grade = score_session(self.rubric, rec)
        grade.label = label
        grade.page = page
        if self.image_dir is not None and grade.holds:
            from nmt_monitor.grading.plots import hold_png

            folder = os.path.join(self.image_dir, HOLD_IMAGES)
            for h in grade.holds:
                name = f"{page}-hold{h.index}.png"
                try:
                    hold_png(os.path.join(folder, name), grade, h, rec.time_s, rec.force_n, self.rubric)
                except OSError as exc:
                    raise ReportWriteError(f"cannot write the report's pictures in {folder} "
                                           f"({exc.strerror or exc})") from None
                h.image = f"{HOLD_IMAGES}/{name}"
        return grade


def grade_paths(paths: list[str], rubric: Rubric, *, image_dir: str | None = None, jobs: int | None = None,
                progress: bool = False, skipped: list | None = None) -> tuple[list[SessionGrade], list[StudentGrade]]:
    """Grade recordings and folders (searched recursively): sessions (input order) and students.

    ``skipped``: a list to collect the files that cannot be read (``research.Skipped``: file and
    one-line reason) while the others are graded; without it the first bad file raises."""
    from nmt_monitor.grading.names import unique_stems
    from nmt_monitor.loaders import expand_paths
    from nmt_monitor.research import Progress, map_files

    files = expand_paths([str(p) for p in paths])
    labels = session_labels(files)
    pages = unique_stems(labels)
    if image_dir is not None:
        os.makedirs(os.path.join(image_dir, HOLD_IMAGES), exist_ok=True)
    bar = Progress(len(files), "grading ") if progress else None
    sessions = map_files(GradeJob(rubric, image_dir), [(f, lb, pages[lb]) for f, lb in zip(files, labels)],
                         jobs=jobs, progress=bar, skip_errors=skipped is not None)
    if skipped is not None:
        from nmt_monitor.research import Skipped

        skipped.extend(s for s in sessions if isinstance(s, Skipped))
        sessions = [s for s in sessions if not isinstance(s, Skipped)]
    return sessions, grade_students(rubric, sessions)
