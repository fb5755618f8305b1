"""Teachers of the distillation tried in session 7 (docs/model-development.md, "Distilling the
two-seed average into one network"): finished model dirs whose averaged, softened probabilities
a student learnt beside the labels. ``labapp-train --distill`` was rejected there and has left
labapp-train; ``research.teacher_targets`` still loads a distilled run's teachers with this.

Loss the runs used (Hinton et al. 2015): (1 - w) * CE(labels) + w * tau^2 * CE(p_teachers(tau),
p_student(tau)), where p(tau) is the softmax of logits / tau and p_teachers the mean over teachers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model.errors import DataError
from model.modeldir import read_model_json


@dataclass
class Teachers:
    nets: list            # eval-mode MobileNetV2s on the device, gradients off
    to_teacher: list      # per teacher: (scale, shift) taking the student's input to its own
    temperature: float
    cards: list[dict]     # name, version, sha256 of each teacher, as model.json recorded them

    def probabilities(self, x):
        """Mean of the teachers' softmax(logits / temperature) for a student-normalised batch."""
        import torch
        with torch.no_grad():
            total = None
            for net, (scale, shift) in zip(self.nets, self.to_teacher):
                p = torch.softmax(net(x * scale + shift).float() / self.temperature, dim=1)
                total = p if total is None else total + p
            return total / len(self.nets)


def _trained_on(model_dir: Path) -> set[str]:
    path = model_dir / "split.json"
    try:
        return set(json.loads(path.read_text())["train"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"The teacher {model_dir} has no readable split.json, so it cannot be told "
                        f"which images it trained on; a teacher that saw this run's validation "
                        f"images would inflate its figures ({exc}).") from exc


def load_teachers(dirs: list[str], classes: tuple[str, ...], img_size: int, mean, std,
                  val_rels: list[str], device, temperature: float) -> Teachers:
    """Load and check the teachers: same classes in the same order, same input size, and none
    trained on any of the given validation images (with none given, any is taken)."""
    import torch

    from model.architecture import load_model_dir_net

    nets, to_teacher, cards = [], [], []
    mean_s = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    for d in map(Path, dirs):
        meta = read_model_json(d)
        if tuple(meta["classes"]) != tuple(classes):
            raise DataError(f"The teacher {d} has the classes {meta['classes']}; the student has "
                            f"{list(classes)}. A teacher must have the same classes in the same order.")
        if int(meta["input_size"]) != img_size:
            raise DataError(f"The teacher {d} takes {meta['input_size']} px inputs; the student "
                            f"{img_size} px. Give teachers of the same input size.")
        if val_rels:
            seen = _trained_on(d) & set(val_rels)
            if seen:
                raise DataError(f"The teacher {d} trained on {len(seen)} of the validation "
                                f"images (first: {sorted(seen)[0]}), so the figures would be "
                                "inflated. Use teachers trained without these validation blocks "
                                "(the same --split-seed and --fold).")
        net = load_model_dir_net(d, meta).eval().to(device).to(memory_format=torch.channels_last)
        net.requires_grad_(False)
        mean_t = torch.tensor(meta["mean"], device=device).view(1, 3, 1, 1)
        std_t = torch.tensor(meta["std"], device=device).view(1, 3, 1, 1)
        # (x * std_s + mean_s - mean_t) / std_t, as one multiply and one add per step.
        to_teacher.append((std_s / std_t, (mean_s - mean_t) / std_t))
        nets.append(net)
        cards.append({"name": meta["name"], "version": meta["version"], "sha256": meta["sha256"],
                      "dir": d.name if d.name != "model" else f"{d.parent.name}/{d.name}"})
    return Teachers(nets, to_teacher, temperature, cards)
