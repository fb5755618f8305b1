"""Write the GUI benchmarks into bench/RESULTS.md, section '## GUI responsiveness' only.

Other sections of RESULTS.md belong to other benchmarks and are left byte for byte as they are.
The section holds two subsections, one per script; each run replaces its own subsection.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from results_md import read_results, section_span

SECTION = "## GUI responsiveness"
SUBSECTIONS = {"startup": "### Time to first paint (bench/gui_startup.py)",
               "run": "### Event loop during a 500-image run (bench/gui_responsiveness.py)"}
INTRO = ("Measured with the real window on the Qt offscreen platform (it paints into memory as it "
         "would on screen). Regenerate with the commands shown; each script replaces its own part "
         "of this section.")


def _model_opt(s: dict) -> str:
    return " --model DIR" if s.get("model_arg") else ""


def _model_note(s: dict) -> str:
    if not s.get("model_arg"):
        return ""
    return (" Model: `--model DIR` named a model folder other than the bundled one (the bundled "
            "model was not in resources/models yet); its name is in the table.")


def _startup_text(s: dict) -> str:
    return "\n".join([
        f"Command: `python bench/gui_startup.py --runs {s['runs']} --device cpu{_model_opt(s)} "
        "--write bench/RESULTS.md`",
        "",
        "| measure | median | worst |",
        "| --- | --- | --- |",
        f"| launch -> first paint of the main window | {s['first_paint_median_s']:.2f} s | "
        f"{s['first_paint_max_s']:.2f} s |",
        f"| launch -> model ready ({s['device']}) | {s['model_ready_median_s']:.2f} s | "
        f"{s['model_ready_max_s']:.2f} s |",
        "",
        f"torch imported before the first paint: {'yes' if s['torch_at_first_paint'] else 'no'}; "
        f"onnxruntime: {'yes' if s['onnxruntime_at_first_paint'] else 'no'} (the model loads in a "
        f"worker thread after the window is shown). {s['runs']} launches after one warm-up, "
        f"Python {s['python']}, {s['cpus']} CPU cores, Qt platform {s['platform']}, "
        f"{dt.date.today().isoformat()}.{_model_note(s)}",
    ])


def _run_text(s: dict) -> str:
    ok = "meets" if s["worst_gap_ms"] <= 100 else "does NOT meet"
    return "\n".join([
        f"Command: `python bench/gui_responsiveness.py --images {s['images']} --repeat "
        f"{s.get('repeat', 1)} --device cpu{_model_opt(s)} --write bench/RESULTS.md`",
        "",
        f"{s['images']} images ({s['distinct_sources']} sample fields repeated as distinct files) "
        f"analysed into a new case on {s['device']} with model {s['model']}, while a "
        f"{s['interval_ms']} ms heartbeat QTimer measured the gaps between its ticks and the "
        f"technician's side was simulated (next image every {s['navigate_ms']} ms: field load, "
        "segmentation, activation map).",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| worst heartbeat gap (event-loop stall), worst of {s.get('repeat', 1)} runs | "
        f"**{s['worst_gap_ms']:.0f} ms** |",
        *([f"| worst gap of each run | {', '.join(str(g) for g in s['worst_gaps_ms'])} ms |"]
          if s.get("worst_gaps_ms") else []),
        f"| 99th percentile gap | {s['p99_gap_ms']:.0f} ms |",
        f"| gaps over 50 ms | {s['gaps_over_50ms']} |",
        f"| run time (start -> last result shown), median | {s['run_s']:.1f} s "
        f"({s['images_per_s']:.0f} images/s) |",
        f"| results stored in the case | {s['stored']} |",
        "",
        f"The 100 ms target: {ok}. Python {s['python']}, {s['cpus']} CPU cores"
        f"{' (other processes kept them busy: load average above half the cores)' if s.get('busy') else ''}, "
        f"{dt.date.today().isoformat()}.{_model_note(s)}",
    ])


def update_section(path: Path, key: str, summary: dict) -> None:
    body = _startup_text(summary) if key == "startup" else _run_text(summary)
    text, start, end = section_span(read_results(path), SECTION, INTRO)
    section = text[start:end]
    parts = {}
    for k, title in SUBSECTIONS.items():
        sm = re.search(rf"^{re.escape(title)}[ \t]*$", section, flags=re.M)
        if sm:
            rest = section[sm.end():]
            nm = re.search(r"^### ", rest, flags=re.M)
            parts[k] = (rest[:nm.start()] if nm else rest).strip()
    parts[key] = body.strip()
    new = f"{SECTION}\n\n{INTRO}\n\n" + "".join(
        f"{SUBSECTIONS[k]}\n\n{parts[k]}\n\n" for k in SUBSECTIONS if k in parts)
    text = text[:start] + new.rstrip("\n") + "\n" + ("\n" + text[end:] if text[end:] else "")
    path.write_text(text, encoding="utf-8")
