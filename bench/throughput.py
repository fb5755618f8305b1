"""Throughput benchmark: end-to-end pipeline vs the model-only ceiling vs a naive torch loop.

Run:  .venv/bin/python bench/throughput.py [--n 652] [--memory-n 5000] [--device cpu|cuda] [--record]

In one run, on the same images (a folder of N real fields taken evenly from the four classes):
1. end-to-end: ``labapp-batch FOLDER --out TMP --device cpu`` as a fresh process, start-up
   included (python, imports, model load, decode, segmentation, scope check, inference, files);
2. ceiling: the inference engine alone (ONNX Runtime on the CPU, torch on CUDA) on the same
   model, on already preprocessed tensors, batch 32;
3. naive: the approach of the project this one starts from: per image, PIL open, transform,
   torch eager forward one image at a time (on the same device);
4. memory: peak RSS of ``labapp-batch`` on ``--memory-n`` images (the same files repeated;
   0 skips it).
With --record the table is appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("LABAPP_DATASET_DIR", REPO.parent / "shared/data/all-taleqani")) / "Original"


def pick_images(n: int) -> list[Path]:
    per = {c: sorted((DATA / c).glob("*.jpg")) for c in ("Benign", "Early", "Pre", "Pro")}
    out = []
    for files in per.values():
        step = max(1, len(files) // (n // 4 + 1))
        out += files[::step][: n // 4]
    return out[:n]


def make_folder(images: list[Path], n: int, root: Path) -> Path:
    """Real copies: the batch counts a file reached through two links once."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = images[i % len(images)]
        shutil.copyfile(src, root / f"{i:05d}-{src.name}")
    return root


def run_batch(folder: Path, out: Path, device: str = "cpu") -> tuple[float, float]:
    """Wall time and peak RSS (MB, sampled every 50 ms from /proc) of one labapp-batch run.
    getrusage's children figure is not used: it can report the parent's size at fork time."""
    cmd = [sys.executable, "-m", "lab_app.cli", str(folder), "--out", str(out), "--device", device, "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO)
    peak_mb = 0.0
    while proc.poll() is None:
        try:
            pages = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1])
            peak_mb = max(peak_mb, pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"labapp-batch exited with {proc.returncode}")
    return wall, peak_mb


def engine_ceiling(model_dir: Path, images: list[Path], device: str = "cpu") -> float:
    from model.data import read_rgb
    from model.inference import InferenceEngine
    engine = InferenceEngine(model_dir, device=device)
    x = engine.preprocess([read_rgb(p) for p in images])
    engine.run_preprocessed(x[:64])  # warm-up
    t0 = time.perf_counter()
    engine.run_preprocessed(x)
    return len(x) / (time.perf_counter() - t0)


def cpu_cost_per_image(model_dir: Path, images: list[Path], limit: int = 300) -> dict[str, float]:
    """CPU milliseconds per image of each stage, one thread, no contention: what two cores must
    share. The model's cost is ONNX Runtime with one thread."""
    from lab_app.core.imaging import load_rgb
    from lab_app.core.scope import assess_scope
    from lab_app.core.segmentation import preset, segment
    from model.inference import InferenceEngine
    from model.preprocessing import normalize, resize_field
    engine = InferenceEngine(model_dir, device="cpu", threads=1)
    params, size = preset("default"), engine.preprocess_config.input_size
    sel = images[:limit]
    cost = dict.fromkeys(("load", "segment", "scope", "preprocess", "model"), 0.0)
    tensors = []
    for p in sel:
        t0 = time.process_time()
        rgb = load_rgb(p).rgb
        t1 = time.process_time()
        seg = segment(rgb, params)
        t2 = time.process_time()
        assess_scope(rgb, seg)
        t3 = time.process_time()
        tensors.append(normalize(resize_field(rgb, size)[None], engine.preprocess_config)[0])
        t4 = time.process_time()
        for key, dt in zip(("load", "segment", "scope", "preprocess"), (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            cost[key] += dt
    x = np.stack(tensors)
    engine.run_preprocessed(x[:32])  # warm-up
    t0 = time.process_time()
    engine.run_preprocessed(x)
    cost["model"] = time.process_time() - t0
    return {k: 1000 * v / len(sel) for k, v in cost.items()}


def naive_torch(model_dir: Path, images: list[Path], limit: int = 200, device: str = "cpu") -> float:
    import torch
    from PIL import Image

    from model.architecture import build_model
    from model.modeldir import read_model_json
    meta = read_model_json(model_dir)
    net = build_model(len(meta["classes"]))
    net.load_state_dict(torch.load(model_dir / "weights.pt", weights_only=True))
    net.eval().to(device)
    mean = torch.tensor(meta["mean"]).view(3, 1, 1).to(device)
    std = torch.tensor(meta["std"]).view(3, 1, 1).to(device)
    size = meta["input_size"]
    sel = images[:limit]
    t0 = time.perf_counter()
    with torch.no_grad():
        for p in sel:
            im = Image.open(p).convert("RGB").resize((size, size))
            t = torch.from_numpy(np.asarray(im).copy()).to(device).permute(2, 0, 1).float() / 255
            net(((t - mean) / std)[None]).softmax(1).cpu()
    return len(sel) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=652)
    ap.add_argument("--memory-n", type=int, default=5000)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    from model.modeldir import default_model_dir
    model_dir = default_model_dir()
    images = pick_images(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = make_folder(images, args.n, tmp / "in")
        run_batch(make_folder(images, 32, tmp / "warm"), tmp / "warm-out", args.device)  # file cache
        e2e_wall, _ = run_batch(folder, tmp / "out", args.device)
        e2e = args.n / e2e_wall
        import json
        timing = json.loads((tmp / "out" / "results.json").read_text())["timing"]
        ceiling = engine_ceiling(model_dir, images, args.device)
        naive = naive_torch(model_dir, images, device=args.device)
        cost = cpu_cost_per_image(model_dir, images) if args.device == "cpu" else None
        if args.memory_n:
            mem_folder = make_folder(images, args.memory_n, tmp / "mem")
            mem_wall, peak_mb = run_batch(mem_folder, tmp / "mem-out", args.device)
            n_mem = len(json.loads((tmp / "mem-out" / "results.json").read_text())["images"])
            assert n_mem == args.memory_n, f"memory run analysed {n_mem} of {args.memory_n} images"
    rows = [
        ("end-to-end labapp-batch, start-up included", f"{e2e:.0f} img/s ({args.n} images in {e2e_wall:.2f} s)"),
        ("ONNX Runtime alone (model-only ceiling)" if args.device == "cpu" else
         "torch on CUDA alone (model-only ceiling)", f"{ceiling:.0f} img/s"),
        ("naive per-image torch loop", f"{naive:.0f} img/s"),
        ("end-to-end / ceiling", f"{e2e / ceiling:.2f} (target >= 0.5)"),
        ("end-to-end / naive", f"{e2e / naive:.1f}x (target >= 3x)"),
        ("stage times inside the pipeline (s, summed over threads)",
         ", ".join(f"{k} {v}" for k, v in timing.items())),
    ]
    if cost:
        prep = sum(v for k, v in cost.items() if k != "model")
        rows.append(("CPU per image, one thread (ms)",
                     ", ".join(f"{k} {v:.2f}" for k, v in cost.items())
                     + f"; preparation {prep:.2f} + model {cost['model']:.2f}: at most "
                     f"{1000 * (os.cpu_count() or 1) / (prep + cost['model']):.0f} img/s on "
                     f"{os.cpu_count()} cores"))
    if args.memory_n:
        rows.insert(5, (f"peak RSS, {args.memory_n} images",
                        f"{peak_mb:.0f} MB in {mem_wall:.1f} s (target < 1500 MB)"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.device == "cuda":
        import torch
        machine += f", {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    text = [f"### Throughput ({time.strftime('%Y-%m-%d')}, {machine}, model {model_dir.name})", "",
            "| measure | result |", "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows], "",
            "Command: `.venv/bin/python bench/throughput.py " + " ".join(sys.argv[1:]) + "`", ""]
    print("\n".join(text))
    if args.record:
        record(REPO / "bench" / "RESULTS.md", "\n".join(text))
    return 0


SECTION = "## Throughput (bench/throughput.py)"


def record(path: Path, entry: str) -> None:
    """Add ``entry`` at the end of RESULTS.md's throughput section (earlier entries are kept as
    history); the other sections belong to other benchmarks and are left as they are."""
    from results_md import read_results, section_span
    text, _, end = section_span(read_results(path), SECTION,
                                "Newest last. Targets from the pipeline issue.")
    head, tail = text[:end].rstrip("\n"), text[end:]
    path.write_text(head + "\n\n" + entry.strip("\n") + "\n" + ("\n" + tail if tail else ""),
                    encoding="utf-8")

if __name__ == "__main__":
    sys.exit(main())
