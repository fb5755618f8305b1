"""One identity for a model: manifest.json lists the sha256 of every file that affects a call.

A model dir's calls depend on model.json (classes, temperature, thresholds, preprocessing),
model.onnx (the CPU path), weights.pt (the torch/CUDA path) and feature_density.npz (the
unlike-training detector). manifest.json records the sha256 of each; the model's identity (the
hash results, cases, reports and the About dialog name) is the sha256 of the manifest's canonical
JSON, so a change to any of those files is either refused or gives another identity.

weights.pt may be left out of a model dir (the CPU installer does): only torch reads it, so its
absence changes no call. A weights.pt that is present must match.

    python -m model.manifest MODEL_DIR            # check; print the identity
    python -m model.manifest MODEL_DIR --write    # seal a dir exported before manifests

``--write`` first checks the binaries against the checksums model.json records, so it seals
only what was exported; model.json itself has no other witness, which is why it says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from .atomic import atomic_write_bytes
from .errors import ModelError, ModelLoadError
from .modeldir import MODEL_JSON, ONNX, WEIGHTS, sha256_file

MANIFEST = "manifest.json"
FORMAT = "labapp-model-manifest/1"
FEATURE_DENSITY = "feature_density.npz"
# Files a model dir may lack without changing any call of the path that runs (the CPU bundle).
MAY_BE_ABSENT = {WEIGHTS: "read only by the torch (CUDA) path; the CPU installer leaves it out"}
# Which files each backend reads (model.json always).
NEEDED = {"onnx": (MODEL_JSON, ONNX), "torch": (MODEL_JSON, WEIGHTS)}

REEXPORT = ("re-export it (python -m model.export RUN) or, if its files are the originals, seal "
            "it with python -m model.manifest {dir} --write")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(manifest: dict) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def identity_of(manifest: dict) -> str:
    """The model's identity: sha256 of the manifest's canonical JSON."""
    return sha256_bytes(canonical(manifest))


def covered_files(meta: dict, model_dir: Path) -> list[str]:
    """Every file of the dir that affects a call, as model.json describes the dir."""
    files = [MODEL_JSON, ONNX]
    if meta.get("feature_density"):
        files.append(meta["feature_density"].get("file", FEATURE_DENSITY))
    if (Path(model_dir) / WEIGHTS).is_file() or meta.get("sha256"):
        files.append(WEIGHTS)
    return files


def build_manifest(model_dir: Path) -> dict:
    """The manifest of the files as they are now (export and upgrade call this last)."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / MODEL_JSON).read_text(encoding="utf-8"))
    files = {}
    for name in covered_files(meta, model_dir):
        path = model_dir / name
        if not path.is_file():
            raise ModelLoadError(f"Cannot write the manifest of {model_dir}: {name} is missing.")
        files[name] = sha256_file(path)
    return {"format": FORMAT, "files": files,
            "may_be_absent": {k: v for k, v in MAY_BE_ABSENT.items() if k in files}}


def write_manifest(model_dir: Path) -> str:
    """Write manifest.json for the dir's current files; returns the model's identity."""
    manifest = build_manifest(model_dir)
    atomic_write_bytes(Path(model_dir) / MANIFEST,
                       (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return identity_of(manifest)


def read_manifest(model_dir: Path) -> dict:
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    if not path.is_file():
        raise ModelLoadError(
            f"The model folder {model_dir} has no {MANIFEST}, so changes to its model.json "
            f"(classes, temperature, thresholds) could not be noticed; {REEXPORT.format(dir=model_dir)}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The model manifest {path} cannot be read ({exc}); reinstall the "
                             "model.") from exc
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or not isinstance(manifest.get("files"), dict)):
        raise ModelLoadError(f"The model manifest {path} is not one this version reads "
                             f"(format {manifest.get('format') if isinstance(manifest, dict) else '?'!r}); "
                             "reinstall the model or update the program.")
    return manifest


class VerifiedModel:
    """What verify_model() checked: the identity and the bytes of the files it read."""

    def __init__(self, identity: str, manifest: dict, contents: dict[str, bytes]):
        self.identity = identity
        self.manifest = manifest
        self.contents = contents     # file name -> the bytes that were hashed

    def meta(self) -> dict:
        return json.loads(self.contents[MODEL_JSON].decode("utf-8"))


def _mismatch(path: Path, expected: str, actual: str) -> ModelLoadError:
    return ModelLoadError(
        f"The model file {path} does not match its checksum in {MANIFEST} (expected "
        f"{expected[:12]}…, found {actual[:12]}…). It was changed or damaged; reinstall the model "
        "or restore the original file.")


def verify_model(model_dir: Path, backend: str | None = None) -> VerifiedModel:
    """Check every file the manifest lists; refuse a change with a sentence naming the file.

    The files the backend reads are read once and their checked bytes returned, so what runs is
    what was checked. ``backend`` None: every listed file must be present (the bundle check).
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    files: dict[str, str] = manifest["files"]
    may_be_absent = manifest.get("may_be_absent") or {}
    needed = NEEDED.get(backend, ()) if backend else tuple(files)
    contents: dict[str, bytes] = {}
    for name, expected in sorted(files.items()):
        path = model_dir / name
        if not path.is_file():
            if name in needed or name not in may_be_absent:
                raise ModelLoadError(f"The model file {path} is missing; reinstall the model.")
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"The model file {path} cannot be read: {exc}") from exc
        actual = sha256_bytes(data)
        if actual != expected:
            raise _mismatch(path, expected, actual)
        if name in needed or name == FEATURE_DENSITY or name == MODEL_JSON:
            contents[name] = data
    if MODEL_JSON not in contents:
        raise ModelLoadError(f"The model manifest {model_dir / MANIFEST} does not cover "
                             f"{MODEL_JSON}; {REEXPORT.format(dir=model_dir)}.")
    try:
        meta = json.loads(contents[MODEL_JSON].decode("utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{model_dir / MODEL_JSON} cannot be read: {exc}") from exc
    for name in covered_files(meta, model_dir):
        if name not in files:
            raise ModelLoadError(f"The model manifest {model_dir / MANIFEST} does not cover {name}; "
                                 f"{REEXPORT.format(dir=model_dir)}.")
    for name in needed:
        if name not in files:
            raise ModelLoadError(f"The model manifest {model_dir / MANIFEST} does not cover {name}, "
                                 f"which the {backend} path reads; {REEXPORT.format(dir=model_dir)}.")
    return VerifiedModel(identity_of(manifest), manifest, contents)


def seal(model_dir: Path) -> str:
    """Write the manifest of an older dir after checking its binaries against model.json."""
    from .modeldir import read_model_json, verify_file
    model_dir = Path(model_dir)
    meta = read_model_json(model_dir)
    verify_file(model_dir, ONNX, meta.get("onnx_sha256"))
    if (model_dir / WEIGHTS).is_file():
        verify_file(model_dir, WEIGHTS, meta.get("sha256"))
    if meta.get("feature_density"):
        record = meta["feature_density"]
        verify_file(model_dir, record.get("file", FEATURE_DENSITY), record.get("sha256"))
    return write_manifest(model_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.manifest",
                                description="Check (or write) a model dir's manifest.json.")
    p.add_argument("model_dir", type=Path)
    p.add_argument("--write", action="store_true",
                   help="seal a dir exported before manifests: its binaries are checked against "
                        "model.json; model.json is taken as it is now")
    args = p.parse_args(argv)
    try:
        if args.write:
            identity = seal(args.model_dir)
            print(f"wrote {args.model_dir / MANIFEST}; model identity {identity}")
            print("model.json was taken as it is now: compare its classes, temperature and "
                  "thresholds with the model card you were given.")
        else:
            print(verify_model(args.model_dir).identity)
    except ModelError as exc:
        print(f"python -m model.manifest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
