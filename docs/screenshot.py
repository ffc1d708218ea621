"""Regenerate ``docs/review.png``: the review of sample patient B after a batch run.

    caliper run S/dicom --prompts S/prompts.csv --out OUT && \
    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/screenshot.py OUT ATC-B docs/review.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
from PIL import Image

from imaging.review.widget import open_review


def main() -> None:
    out, patient, target = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    viewer = napari.Viewer(title="Caliper review", show=True)
    viewer.window.resize(1900, 1000)
    widget = open_review(viewer, out, patient)
    widget.select_lesion("T1")
    widget.set_window("lung")
    image = viewer.screenshot(canvas_only=False, flash=False)
    Image.fromarray(image).convert("RGB").save(target, optimize=True)
    viewer.close()


if __name__ == "__main__":
    main()
