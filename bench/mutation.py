"""Mutation testing of the code where a silent error reaches a report (a benchmark, not CI).

    nice .venv/bin/python bench/mutation.py [TARGET ...] [--children 2] [--work DIR]

Targets (default: all): pipeline-flags, calibration, results-io, case-summary, case-store.
Each target mutates only the named functions of its module(s) with mutmut 3 (pip install -e
'.[dev]') and runs only the tests that cover them (mutmut maps tests to functions first), in a
scratch copy of the committed tree (``git archive HEAD``), so edits in the working tree neither
disturb the run nor are touched by it. Prints, per target, killed / survived / timeout / no
tests, the score (killed + timeout over all), and the surviving mutants' diffs; writes them to
WORK/<target>/summary.json. bench/RESULTS.md ("Mutation testing") records a run and explains
each survivor.

Tests that start a subprocess (the window, the import rules) are left out: a subprocess imports
the unmutated package.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# target -> module files to copy as mutmut's sources, mutant-name patterns (fnmatch; mutmut 3
# names a function f of module m ``m.x_f__mutmut_N`` and a method ``m.xǁClassǁmethod__mutmut_N``),
# and the tests to run.
TARGETS: dict[str, dict] = {
    "pipeline-flags": {
        "mutate": ["lab_app/core/pipeline.py"],
        "functions": ["lab_app.core.pipeline.x__finish__mutmut_*",
                      "lab_app.core.pipeline.x_prepare_image__mutmut_*",
                      "lab_app.core.pipeline.x_prepare_field__mutmut_*",
                      "lab_app.core.pipeline.x__lamp_unlike_training__mutmut_*",
                      "lab_app.core.pipeline.x_analyse_fields__mutmut_*"],
        # test_acquisition.py trains a model per run: too slow to repeat for every mutant
        "tests": ["tests/unit/test_pipeline.py"],
    },
    "calibration": {
        "mutate": ["model/calibration.py"],
        "functions": ["model.calibration.x_choose_low_confidence_threshold__mutmut_*",
                      "model.calibration.x_fit_temperature__mutmut_*",
                      "model.calibration.x_nll__mutmut_*"],
        "tests": ["tests/unit/test_model_metrics.py"],
    },
    "results-io": {
        "mutate": ["lab_app/core/results_io.py"],
        "functions": ["lab_app.core.results_io.*"],
        # the CLI tests (tests/integration) cover it too, at 20-60 s a run: too slow per mutant
        "tests": ["tests/unit/test_results_io.py"],
    },
    "case-summary": {
        "mutate": ["lab_app/core/case_summary.py"],
        "functions": ["lab_app.core.case_summary.*"],
        "tests": ["tests/unit/test_cases.py", "tests/unit/test_report.py"],
    },
    "case-store": {
        "mutate": ["lab_app/core/cases.py"],
        "functions": [f"lab_app.core.cases.xǁCaseStoreǁ{m}__mutmut_*" for m in
                      ("set_decision", "sign_off", "amend", "audit", "_audit", "_apply_decision")]
                     + [f"lab_app.core.cases.x_{f}__mutmut_*" for f in
                        ("_require_open", "_check_decision", "_accept_still_valid",
                         "_describe_decision")],
        "tests": ["tests/unit/test_cases.py"],
    },
}


def scratch_copy(work: Path) -> str:
    """The committed tree (HEAD) in ``work``; returns the commit."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    return commit


def write_config(work: Path, target: dict) -> None:
    lines = ["", "[tool.mutmut]", 'source_paths = ["lab_app", "model"]',
             f"only_mutate = {json.dumps(target['mutate'])}",
             f"pytest_add_cli_args_test_selection = {json.dumps(target['tests'])}",
             'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
             'also_copy = ["resources", "tests"]',
             "use_git_change_detection = false", ""]
    py = work / "pyproject.toml"
    py.write_text(py.read_text(encoding="utf-8") + "\n".join(lines), encoding="utf-8")


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, env=env,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def results(work: Path) -> dict[str, str]:
    """mutant name -> status, from ``mutmut results --all true``."""
    out = mutmut(work, "results", "--all", "true")
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status.strip()
    return found


def run_target(name: str, work_root: Path, children: int) -> dict:
    target = TARGETS[name]
    work = work_root / name
    commit = scratch_copy(work)
    write_config(work, target)
    t0 = time.perf_counter()
    mutmut(work, "run", "--max-children", str(children), *target["functions"], check=False)
    wall = time.perf_counter() - t0
    import fnmatch
    status = {m: s for m, s in results(work).items()
              if any(fnmatch.fnmatch(m, pat) for pat in target["functions"])}
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    total = sum(counts.values())
    survivors = {m: mutmut(work, "show", m, check=False) for m, s in sorted(status.items())
                 if s in ("survived", "no tests")}
    summary = {"target": name, "commit": commit, "mutated": target["mutate"],
               "functions": target["functions"], "tests": target["tests"],
               "counts": counts, "score": round(killed / total, 3) if total else None,
               "wall_s": round(wall, 1), "survivors": survivors}
    (work / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False),
                                       encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"any of {', '.join(TARGETS)}")
    p.add_argument("--children", type=int, default=2, help="parallel mutant runs (default 2)")
    p.add_argument("--work", type=Path, default=Path("/tmp/labapp-mutation"),
                   help="scratch folder (default /tmp/labapp-mutation)")
    args = p.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown target(s) {', '.join(sorted(unknown))}; choose from {', '.join(TARGETS)}")
    for name in args.targets or list(TARGETS):
        s = run_target(name, args.work, args.children)
        print(f"{name}: {s['counts']} score {s['score']} in {s['wall_s']} s (commit {s['commit'][:8]})")
        for m, diff in s["survivors"].items():
            print(f"--- survived: {m}\n{diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
