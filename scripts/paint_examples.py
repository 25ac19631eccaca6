"""Run the default CLI on the Tübingen photo with every painting in ../shared/images/style,
record wall time, peak memory and final loss terms of each run, and compose the README picture.

    python scripts/paint_examples.py [--out-dir DIR] [--only starry_night]

Writes DIR/tubingen_<painting>.png, DIR/runs.md (a table), and
docs/images/tubingen_starry_night.jpg (photo | painting | result).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.shared import IMAGES  # noqa: E402


def run_one(
    content: Path, style: Path, out: Path, log: Path
) -> tuple[float, float, dict[str, float]]:
    """Run ``restyle CONTENT STYLE -o OUT`` in a child process: (seconds, peak MiB, losses)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "restyle", str(content), str(style), "-o", str(out),
                    "-q", "--log-json", str(log)], check=True)  # fmt: skip
    seconds = time.perf_counter() - t
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    last = json.loads(log.read_text().splitlines()[-1])
    return seconds, peak_mib, last["losses"]


def side_by_side(paths: list[Path], height: int = 300, gap: int = 8) -> Image.Image:
    """Images scaled to one height, side by side on white."""
    ims = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
            ims.append(im.resize((round(im.width * height / im.height), height), Image.LANCZOS))
    sheet = Image.new("RGB", (sum(i.width for i in ims) + gap * (len(ims) - 1), height), "white")
    x = 0
    for im in ims:
        sheet.paste(im, (x, 0))
        x += im.width + gap
    return sheet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out-dir", type=Path, default=Path("/tmp/restyle-examples"))
    p.add_argument("--only", help="one painting's file stem")
    args = p.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    content = IMAGES / "content" / "tubingen.jpg"
    rows = ["| painting | time (s) | peak RSS (MiB, max so far) | total | content | style |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for style in sorted((IMAGES / "style").glob("*.jpg")):
        if args.only and style.stem != args.only:
            continue
        out = args.out_dir / f"tubingen_{style.stem}.png"
        sec, mib, losses = run_one(content, style, out, args.out_dir / f"{style.stem}.jsonl")
        rows.append(f"| {style.stem} | {sec:.0f} | {mib:.0f} | {losses['total']:.4g} | "
                    f"{losses['content']:.4g} | {losses['style']:.4g} |")  # fmt: skip
        print(rows[-1], flush=True)
        if style.stem == "starry_night":
            pic = side_by_side([content, style, out])
            pic.save(ROOT / "docs" / "images" / "tubingen_starry_night.jpg", quality=88)
    (args.out_dir / "runs.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
