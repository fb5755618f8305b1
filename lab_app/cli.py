"""``labapp-batch``: the headless front end of the analysis pipeline (no Qt import).

Exit codes: 0 every input analysed; 3 some inputs failed (each reported); 2 usage error (any
option value, checked before an image is analysed); 1 the analysis could not run or its results
could not be written (model missing or changed, device unavailable, --out a file, read-only or
full, an earlier run's results there not removable); 130 interrupted (Ctrl-C); 143 stopped by
SIGTERM. Every ending is one line on stderr, and the results files hold every finished image
(--resume completes an interrupted batch; without it an earlier run's results and masks in --out
are removed first, core/results_io.clear_earlier_run, so the folder holds one run).
"""

from __future__ import annotations

import os
import signal
import sys
import time

T_PROCESS_START = time.perf_counter()

# Run as the labapp-batch program, Ctrl-C and SIGTERM are noted, not raised, until main() has
# its handlers: an interrupt while the modules below load ends in one line and exit 130/143,
# never an import traceback. (Imported by another program, e.g. the tests, nothing changes.)
_EARLY_SIGNALS: list[int] = []


def _note_early(signum, frame):
    _EARLY_SIGNALS.append(signum)


_AS_PROGRAM = (__name__ == "__main__"
               or os.path.basename(sys.argv[0] if sys.argv else "").startswith("labapp-batch"))
if _AS_PROGRAM:
    for _sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(_sig, _note_early)
        except (ValueError, OSError):   # not the main thread
            pass

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 143
EXIT_CODES = ("exit codes: 0 all analysed; 3 some inputs failed; 2 usage error; 1 the analysis "
              "could not run or the results could not be written; 130 interrupted (Ctrl-C); "
              "143 stopped by SIGTERM")


class Terminated(KeyboardInterrupt):
    """SIGTERM, ended like Ctrl-C (results kept) but with its own exit code and line."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _probability(text: str) -> float:
    """--threshold: a number strictly between 0 and 1 (0 would remove every flag, nan too)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (e.g. 0.9)")
    return value


def _date(text: str) -> str:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None
    if day > dt.date.today():
        raise argparse.ArgumentTypeError(f"{text} is in the future")
    return day.isoformat()


def _identifier(text: str) -> str:
    value = text.strip()
    if not value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise argparse.ArgumentTypeError(f"{text!r} is empty or holds control characters")
    return _case_text(value)


def _case_text(text: str) -> str:
    """--patient-name and the other free-text case details: no direction override."""
    from .core.case_models import direction_override_problem
    problem = direction_override_problem("text", text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labapp-batch",
        description="Analyse blood smear images (files or folders) with the bundled ALL-subtype "
                    "classifier and write results.json / results.csv (and a PDF report). "
                    "For research use only.", epilog=EXIT_CODES)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    watch = p.add_argument_group("at the microscope")
    watch.add_argument("--watch", metavar="DIR",
                       help="analyse each image saved into DIR as it arrives (instead of INPUTs); "
                            "Ctrl-C ends it (exit 130, results kept)")
    watch.add_argument("--idle-exit", type=float, default=None, metavar="S",
                       help="with --watch: end S seconds after the last image (exit 0)")
    watch.add_argument("--existing", action="store_true",
                       help="with --watch: analyse the images already in DIR too")
    p.add_argument("--report", action="store_true",
                   help="also create a case and write DIR/report.pdf")
    case = p.add_argument_group("case details (with --report)")
    case.add_argument("--patient-id", type=_identifier, help="patient ID (required with --report)")
    case.add_argument("--patient-name", type=_case_text,
                      help="patient name as the lab records it (default: empty)")
    case.add_argument("--patient-dob", metavar="YYYY-MM-DD", type=_date,
                      help="date of birth (default: empty)")
    case.add_argument("--patient-sex", choices=["F", "M", "X", "U"],
                      help="F, M, X (other) or U (unknown; default: empty)")
    case.add_argument("--sample-id", type=_identifier,
                      help="sample (accession) ID (default: empty)")
    case.add_argument("--specimen", type=_case_text,
                      help="specimen type (default: Peripheral blood smear)")
    case.add_argument("--collected", metavar="YYYY-MM-DD", type=_date,
                      help="collection date (default: empty)")
    case.add_argument("--received", metavar="YYYY-MM-DD", type=_date,
                      help="date the lab received it (default: empty)")
    case.add_argument("--physician", type=_case_text,
                      help="requesting physician (default: empty)")
    case.add_argument("--technician", type=_case_text,
                      help="technician recorded with the case, when the case database has no "
                           "accounts (default: empty)")
    case.add_argument("--user", metavar="NAME",
                      help="when the case database has user accounts (then required): the "
                           "account the case is recorded under, as its technician; checked "
                           "before any image is analysed")
    case.add_argument("--password-file", metavar="FILE",
                      help="with --user: read the password from FILE's first line (readable by "
                           "its owner only); else $LABAPP_PASSWORD, else it is asked")
    case.add_argument("--page-size", choices=["A4", "Letter"], default=None,
                      help="report paper size (default: the lab settings' size, else A4)")
    case.add_argument("--db", metavar="FILE|URL",
                      help="case database: a file, or a lab network's postgresql://user@host:port/"
                           "dbname (default: the lab settings' database, else the user's data folder)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="compute device (default: auto, CUDA when usable, else the CPU)")
    p.add_argument("--segmentation", choices=["default", "dataset"], default="default",
                   help="segmentation preset (default works on every stain in the data)")
    p.add_argument("--save-masks", action="store_true",
                   help="write DIR/masks/<input stem>.png (0/255)")
    p.add_argument("--model", metavar="DIR", help="model dir (default: the bundled model)")
    p.add_argument("--threshold", type=_probability, default=None,
                   help="low-confidence threshold for the flags and the report's marks, between "
                        "0 and 1 (default: the model card's calibrated one)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted batch in DIR instead of starting again (files "
                        "changed since, and those that failed, are analysed again); without it, "
                        "an earlier batch's results and masks in DIR are removed first")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def _mask_path(masks_dir: Path, src: Path, used: set[str]) -> Path:
    stem, n = src.stem, 1
    name = stem
    while name.lower() in used:  # two inputs with the same stem in different folders
        n += 1
        name = f"{stem}-{n}"
    used.add(name.lower())
    return masks_dir / f"{name}.png"


class _OutputFailed(Exception):
    """Writing into --out failed (disk full, folder removed or made read-only)."""

    def __init__(self, exc: OSError):
        super().__init__(exc.strerror or str(exc))
        self.exc = exc


def check_out_dir(out: Path) -> str | None:
    """Why --out cannot hold the results (a sentence), or None: checked before the model loads."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file; give a folder (it is created if missing)."
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"the output folder {out} cannot be created ({exc.strerror or exc})."
    try:
        _probe_write(out)
    except OSError as exc:
        return f"the output folder {out} cannot be written to ({exc.strerror or exc})."
    return None


def _probe_write(out: Path) -> None:
    with tempfile.TemporaryFile(dir=out, prefix=".labapp-probe-"):
        pass


def _file_sha256(path: str) -> str | None:
    """The sha256 of a file's bytes, or None when it cannot be read (for --resume)."""
    from model.modeldir import sha256_file
    try:
        return sha256_file(Path(path))
    except OSError:
        return None


def _close_after_failure(writer) -> None:
    """Keep what can be kept after a write failed: the journal's finished lines stay for
    --resume; the last complete results.json/csv snapshots stay (they are written atomically)."""
    try:
        writer.close({"interrupted": True}, complete=False)
    except OSError:
        with contextlib.suppress(OSError):
            writer._journal.close()


def run(args: argparse.Namespace) -> int:
    # Heavy imports after argument parsing, so --help and usage errors are instant.
    import cv2

    from model.atomic import atomic_write_bytes
    from model.errors import ModelError
    from model.inference import InferenceEngine

    from .cli_progress import ProgressBar
    from .core.errors import LabAppError
    from .core.imaging import folders_without_images, iter_image_paths
    from .core.pipeline import AnalysisOptions, CancelToken, Finished, ImageAnalysed, Started, analyse
    from .core.report_assembly import KeptPictures
    from .core.results_io import MASKS_DIR, ResultsWriter, clear_earlier_run
    from .core.segmentation import preset
    from .core.vocabulary import FLAG_LOW_CONFIDENCE

    out = Path(args.out)
    if bool(args.watch) == bool(args.inputs):
        print("labapp-batch: give image files or folders, or --watch DIR (not both).",
              file=sys.stderr)
        return EXIT_USAGE
    watched = None
    if args.watch:
        from .core.watch import FolderScanner, WatchError
        try:   # the files already there are those there now, not once the model has loaded
            watched = FolderScanner(args.watch, include_existing=args.existing)
        except WatchError as exc:
            print(f"labapp-batch: {exc}", file=sys.stderr)
            return EXIT_USAGE
        paths = []
    else:
        # --out inside (or the same as) an input folder: a second run must not analyse the
        # first one's masks
        paths = iter_image_paths(args.inputs, skip=[out, out / MASKS_DIR])
    if not paths and not args.watch:
        print("labapp-batch: no images found in the given inputs.", file=sys.stderr)
        return EXIT_USAGE
    for folder in folders_without_images(args.inputs, paths):
        print(f"labapp-batch: the folder {folder} holds no image files; nothing in it is "
              "analysed.", file=sys.stderr)
    if args.report and not args.patient_id:
        print("labapp-batch: --report needs --patient-id.", file=sys.stderr)
        return EXIT_USAGE
    if (args.user or args.password_file) and not args.report:
        print("labapp-batch: --user and --password-file go with --report (the case).",
              file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        # With accounts the case's technician is an account (--user), checked now, before
        # any image is analysed (lab_app/batch_signin.py).
        from .batch_signin import BatchSignInError, sign_in_batch
        try:
            sign_in_batch(args)
        except BatchSignInError as exc:
            print(f"labapp-batch: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except LabAppError as exc:
            print(f"labapp-batch: {exc}", file=sys.stderr)
            return EXIT_FATAL
    problem = check_out_dir(out)
    if problem:
        print(f"labapp-batch: {problem}", file=sys.stderr)
        return EXIT_FATAL
    try:
        engine = InferenceEngine(args.model, device=args.device)
    except ModelError as exc:
        print(f"labapp-batch: {exc}", file=sys.stderr)
        return EXIT_FATAL
    startup_s = time.perf_counter() - T_PROCESS_START
    seg = preset(args.segmentation)
    options = AnalysisOptions(segmentation=seg, low_confidence_threshold=args.threshold,
                              with_cam=args.report, keep_arrays=args.save_masks,
                              keep_pictures=args.report)
    threshold = engine.low_confidence_threshold if args.threshold is None else args.threshold
    done = ResultsWriter.read_journal(out) if args.resume else {}
    if args.resume and done:
        # Only reuse rows made with the same model and segmentation.
        done = {p: r for p, r in done.items() if r.model.get("sha256") == engine.info["sha256"]
                and r.segmentation == seg.to_json()}
        # ... and only for files that still hold the bytes they analysed: a file replaced or
        # completed since (or one that failed) is analysed again.
        done = {p: r for p, r in done.items() if r.status == "ok" and r.sha256
                and _file_sha256(p) == r.sha256}
        for r in done.values():  # their low-confidence flag follows this run's threshold
            r.flags = [f for f in r.flags if f != FLAG_LOW_CONFIDENCE]
            if r.confidence is not None and r.confidence < threshold:
                r.flags.append(FLAG_LOW_CONFIDENCE)
    elif not args.resume:
        # A fresh batch replaces an earlier one in --out: its results and masks go, so the
        # folder never mixes two runs; files the program did not write (and reports) stay.
        try:
            earlier = clear_earlier_run(out)
        except OSError as exc:
            print(f"labapp-batch: the earlier results in {out} cannot be replaced "
                  f"({exc.strerror or exc}); remove them or give another --out.", file=sys.stderr)
            return EXIT_FATAL
        if earlier.found and not args.quiet:
            n = earlier.masks_removed
            masks = f" and {n} mask{'s' if n != 1 else ''}" if n else ""
            print(f"labapp-batch: {out} held an earlier run; its results{masks} are removed, "
                  "so the folder holds this run alone (--resume continues a run instead).",
                  file=sys.stderr)
        if earlier.masks_left and (earlier.found or args.save_masks):
            n = earlier.masks_left
            print(f"labapp-batch: {out / MASKS_DIR} holds {n} file{'s' if n != 1 else ''} this "
                  "program did not write; they are left there.", file=sys.stderr)
    header = {"model": {k: engine.info[k] for k in ("name", "version", "sha256", "input_size",
                                                    "temperature", "low_confidence_threshold")},
              "low_confidence_threshold": threshold,
              "device": engine.device_label, "segmentation": seg.to_json(),
              "inputs": [str(p) for p in args.inputs] or [f"watched: {args.watch}"]}
    try:
        writer = ResultsWriter(out, header, engine.classes, engine.display_names)
    except OSError as exc:
        print(f"labapp-batch: the results cannot be written to {out} ({exc.strerror or exc}).",
              file=sys.stderr)
        return EXIT_FATAL
    masks_dir, used_names = out / MASKS_DIR, set()
    bar = ProgressBar(len(paths), stream=None if not args.quiet and not args.watch else _Null())
    cancel = CancelToken()
    finished: Finished | None = None
    results = []
    # The report's pictures, kept as the results stream (a temporary folder, removed at the end).
    with KeptPictures() if args.report else contextlib.nullcontext() as kept:
        try:
            if args.watch:
                from .core.watch import analyse_watched
                events = analyse_watched(watched, engine, options, cancel, done=done,
                                         idle_exit_s=args.idle_exit)
            else:
                events = analyse(paths, engine, options, cancel, done)
            for ev in events:
                if isinstance(ev, ImageAnalysed):
                    try:
                        writer.add(ev.index, ev.result, from_journal=ev.resumed)
                        if args.save_masks and ev.result.mask is not None:
                            masks_dir.mkdir(parents=True, exist_ok=True)
                            ok, png = cv2.imencode(".png", ev.result.mask)
                            if ok:
                                atomic_write_bytes(_mask_path(masks_dir, Path(ev.result.path),
                                                              used_names), png.tobytes())
                    except OSError as exc:
                        raise _OutputFailed(exc) from exc
                    ev.result.mask = None  # keep memory flat however many images there are
                    if kept is not None:
                        kept.keep(ev.result)   # writes the pictures out and drops them from the row
                    results.append((ev.index, ev.result))
                    bar.update(len(results), sum(r.status != "ok" for _, r in results))
                    if args.watch and not args.quiet:
                        print(_watched_line(ev.result), file=sys.stderr)
                elif isinstance(ev, Finished):
                    finished = ev
                elif isinstance(ev, Started) and not args.quiet:
                    what = (f"each image saved into {args.watch}" if args.watch
                            else f"{ev.total} images")
                    print(f"Analysing {what} on {ev.device} with {ev.model['name']} "
                          f"{ev.model['version']}" + (" (Ctrl-C ends)" if args.watch else ""),
                          file=sys.stderr)
        except _OutputFailed as exc:
            cancel.cancel()
            with contextlib.suppress(Exception):
                events.close()
            bar.close()
            _close_after_failure(writer)
            print(f"labapp-batch: writing the results to {out} failed ({exc}); the {len(results)} "
                  "images finished before are kept. Free the space (or fix the folder) and run "
                  "again with --resume.", file=sys.stderr)
            return EXIT_FATAL
        except KeyboardInterrupt as exc:
            cancel.cancel()
            with contextlib.suppress(Exception):
                events.close()   # stops the pipeline and the folder's file-event thread now
            bar.close()
            _close_after_failure(writer)
            how = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
            if args.watch:
                print(f"labapp-batch: {how}; stopped watching; {len(results)} images saved in "
                      f"{out}.", file=sys.stderr)
            else:
                print(f"labapp-batch: {how}; {len(results)} of {len(paths)} images saved in "
                      f"{out}. Run again with --resume to finish.", file=sys.stderr)
            return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        bar.close()
        timing = {"startup_s": round(startup_s, 3), **(finished.timing if finished else {}),
                  "total_s": round(time.perf_counter() - T_PROCESS_START, 3)}
        try:
            writer.close(timing, complete=True)
        except OSError as exc:
            _close_after_failure(writer)
            print(f"labapp-batch: writing the results to {out} failed ({exc.strerror or exc}); "
                  "the finished images are in its journal. Free the space and run again with "
                  "--resume.", file=sys.stderr)
            return EXIT_FATAL
        failed = [r for _, r in sorted(results, key=lambda t: t[0]) if r.status != "ok"]
        for r in failed:
            print(f"error: {r.path}: {_reason(r)}", file=sys.stderr)
        if args.report:
            try:
                from .batch_report import write_batch_report
                pdf = write_batch_report(args, out, [r for _, r in sorted(results, key=lambda t: t[0])],
                                         engine, kept)
                if not args.quiet:
                    print(f"Report: {pdf}", file=sys.stderr)
            except LabAppError as exc:
                print(f"labapp-batch: the report could not be written: {exc}", file=sys.stderr)
                return EXIT_FATAL
        if not args.quiet:
            flagged = sum(1 for _, r in results if r.status == "ok" and r.flags)
            print(f"{len(results) - len(failed)} analysed, {len(failed)} failed, {flagged} flagged for "
                  f"review; results in {out}", file=sys.stderr)
        return EXIT_SOME_FAILED if failed else EXIT_OK


def _reason(r) -> str:
    """Why an image failed, without the file name the loader puts in front (the line names it)."""
    text, prefix = r.error or "the file could not be read.", f"{Path(r.path).name}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _watched_line(r) -> str:
    """One line per watched image: its name and call, or why there is none."""
    name = Path(r.path).name
    if r.status != "ok":
        return f"{name}: error: {_reason(r)}"
    call = f"{r.prediction} {r.confidence:.0%}" if r.prediction else "no call"
    return f"{name}: {call}" + (f" [{', '.join(r.flags)}]" if r.flags else "")


class _Null:
    def write(self, _):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def _early_ending() -> int | None:
    """The exit code of a Ctrl-C / SIGTERM that came while the program was starting."""
    if not _EARLY_SIGNALS:
        return None
    terminated = signal.SIGTERM in _EARLY_SIGNALS
    print(f"labapp-batch: {'stopped by SIGTERM' if terminated else 'interrupted'} while starting; "
          "nothing was written.", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.report or args.db:
            from .core.cases import check_db_location
            from .core.errors import LabAppError
            try:
                check_db_location(args.db)
            except LabAppError as exc:
                parser.error(str(exc))
    except KeyboardInterrupt:
        print("labapp-batch: interrupted before the analysis started; nothing was written.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    # SIGTERM ends like Ctrl-C: the results so far are kept, then exit 143 with a line.
    previous = None
    with contextlib.suppress(ValueError):      # not the main thread: leave SIGTERM alone
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        if _AS_PROGRAM:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    early = _early_ending()
    if early is not None:
        return early
    try:
        return run(args)
    except KeyboardInterrupt as exc:           # before the results writer existed, or after it
        how = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
        if any((Path(args.out) / name).exists()
               for name in ("results.json", "results.partial.jsonl")):
            print(f"labapp-batch: {how}; the results in {args.out} hold every finished image "
                  "(run again with --resume to finish).", file=sys.stderr)
        else:
            print(f"labapp-batch: {how} before any image was analysed; nothing was written.",
                  file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
