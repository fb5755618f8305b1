"""MODEL_CARD.md rendered from model.json, so the card can never disagree with the numbers."""

from __future__ import annotations

from .recipe import DEFAULT_COLOR_JITTER, recipe_value
from .white_balance import MAX_EXPOSURE_GAIN

CREDIT = ("Aria M., Ghaderzadeh M., Bashash D., Abolghasemi H., Asadi F., Hosseini A., "
          "\"Acute Lymphoblastic Leukemia (ALL) image dataset\", Kaggle 2021, "
          "DOI 10.34740/KAGGLE/DSV/2175623; Ghaderzadeh M. et al., \"A fast and efficient CNN model "
          "for B-ALL diagnosis and its subtypes classification using peripheral blood smear images\", "
          "Int J Intell Syst 37 (2022) 5113-5133, DOI 10.1002/int.22753.")


# The context swap, stain jitter, CutMix and distillation left labapp-train (rejected in
# docs/model-development.md); the card still describes them for model dirs trained with them.
def _teachers(t: dict) -> str:
    teachers = t.get("distill_teachers") or []
    names = ", ".join(f"{c['name']} {c['version']} in {c['dir']}" for c in teachers)
    return f"{len(teachers)} teacher model{'s' if len(teachers) != 1 else ''}" + (
        f" ({names})" if names else "")


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _threshold_line(meta: dict) -> str:
    t = meta["low_confidence_threshold"]
    lc = meta["metrics"].get("low_confidence")
    if not lc:
        return f"- Low-confidence flag below {t:.2f} calibrated confidence."
    reached = (lc["unflagged_accuracy"] or 0) >= lc["target_unflagged_accuracy"]
    how = ("the lowest threshold at which the unflagged calls reach "
           f"{lc['target_unflagged_accuracy']:.1%} accuracy" if reached else
           f"the cap: no threshold up to it made the unflagged calls reach "
           f"{lc['target_unflagged_accuracy']:.1%} accuracy")
    return (f"- Low-confidence flag below {t:.2f} calibrated confidence ({how}). On the validation "
            f"split it flags {lc['flagged_fraction']:.1%} of images and catches "
            f"{lc['errors_flagged']} of the {lc['errors']} errors; the unflagged calls are "
            f"{_pct(lc['unflagged_accuracy'])} correct.")


def _split_lines(split: dict) -> list[str]:
    return [
        "Consecutive file numbers come from the same smear, so a random image split leaks near-copies "
        "into validation (a from-scratch MobileNetV2 scores 100% on a random split). Validation "
        f"therefore takes {split['val_fraction']:.0%} of each class as whole contiguous blocks of "
        f"file numbers ({split['n_blocks']} blocks per class, seed {split['seed']}"
        + (f"; fold {split['fold'][0]} of a {split['fold'][1]}-fold block cross-validation"
           if split.get("fold") else "") + "); "
        f"{split['gap']} training images on each side of a validation block are left out, and "
        "byte-identical files always stay on one side. The split is in split.json of the training run.",
        "",
        "Validation blocks (file numbers): " + "; ".join(
            f"{c} {', '.join(f'{a}-{b}' for a, b in v['val_numbers'])}"
            for c, v in split["classes"].items()),
    ]


def _refit_lines(recipe: dict) -> list[str]:
    return [
        f"This model is a **refit**: it repeats the recipe of {recipe['name']} {recipe['version']} "
        "(same starting weights, schedule, epochs and augmentation) on every image, with no "
        "validation split, because more patients in training is what carries over to new smears. "
        "The figures, the temperature and the flag threshold below are the recipe run's, measured "
        "on its validation blocks while those were held out; these weights saw every image, so "
        "they have no held-out figures of their own.",
        "",
        f"Recipe run: `{recipe['command']}`",
        "",
        *_split_lines(recipe["split"]),
    ]


def render_model_card(meta: dict) -> str:
    m = meta["metrics"]
    t = meta["training"]
    recipe = m.get("recipe") if t.get("refit") else None
    classes = meta["classes"]
    names = meta["display_names"]
    lines = [
        f"# Model card: {meta['name']} {meta['version']}",
        "",
        "**For research use only. Not for use in diagnostic procedures.**",
        "",
        "## Intended use",
        "Per-image classification of stained peripheral blood smear fields (100x objective, the whole "
        "field as one image) into B-lineage ALL subtypes, as a second reader for a trained technician "
        "who reviews every call. It does not detect leukemia in general, does not classify single "
        "cells, and must not be used for diagnosis or treatment decisions.",
        "",
        "| class id | display name |", "| --- | --- |",
        *[f"| {c} | {names[c]} |" for c in classes],
        "",
        "## Model",
        f"- Architecture: torchvision MobileNetV2 (width 1.0), dropout 0.2, {len(classes)}-class head, "
        f"trained from {'scratch' if t.get('init') in (None, 'none') else t.get('init')}; "
        "no downloaded weights.",
        f"- Input: RGB field resized to {meta['input_size']}x{meta['input_size']} "
        f"(cv2.INTER_AREA), mean {[round(v, 4) for v in meta['mean']]}, std "
        f"{[round(v, 4) for v in meta['std']]}.",
        *_acquisition_lines(meta),
        f"- Calibration: temperature scaling, T = {meta['temperature']:.3f} (fitted on the validation "
        f"split{' of the recipe run' if recipe else ''}).",
        _threshold_line(meta),
        f"- Files: weights.pt sha256 `{meta['sha256']}`; model.onnx sha256 `{meta.get('onnx_sha256', '')}` "
        "(outputs: logits, last feature map, class activation maps).",
        "",
        "## Data",
        f"Development part of the Taleqani Hospital ALL data set: {t['data']['n_unique']} unique images "
        f"after dropping {t['data']['duplicates_dropped']} byte-identical duplicates "
        f"(file-list sha256 `{t['data']['file_list_sha256'][:16]}…`).",
        "",
        "| class | train | validation |", "| --- | --- | --- |",
        *[f"| {c} | {v['train']} | {v['val']} |" for c, v in t["data"]["counts"].items()],
        "",
        f"Credit: {CREDIT}",
        "",
        "## Split protocol and why",
        *(_refit_lines(recipe) if recipe else _split_lines(t["split"])),
        "",
        "## Metrics (validation split" + (f" of the recipe run {recipe['name']} {recipe['version']})"
                                          if recipe else ")"),
        f"- n = {m['n']}; accuracy {_pct(m['accuracy'])}; macro-F1 {_pct(m['macro_f1'])}",
        f"- ECE (15 bins): {m['ece_before_calibration']:.4f} before, {m['ece_after_calibration']:.4f} "
        "after temperature scaling",
        *_context_lines(m.get("context_check")),
        "",
        "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |",
        *[f"| {c} | {_pct(v['precision'])} | {_pct(v['recall'])} | {_pct(v['f1'])} | {v['support']} |"
          for c, v in m["per_class"].items()],
        "",
        "Confusion matrix (rows true, columns predicted; order " + ", ".join(classes) + "): "
        + str(m["confusion_matrix"]) + ". See confusion_matrix.png and training_curve.png.",
        "",
        "## How it was trained",
        f"- Command: `{t['command']}`",
        f"- Device: {t['device']}; {t['minutes']} min; {t['epochs_run']} epochs run, "
        + ("the last kept (fixed schedule)" if t.get("keep") == "last" else f"best epoch {t['best_epoch']}")
        + f"; batch {t['batch_size']}, AdamW lr {t['lr']}, cosine schedule, label "
        "smoothing 0.05; "
        + (f"the weights kept are an exponential moving average (decay {t['ema']:g} per step); "
           if t.get("ema") else "")
        + "augmentation: random resized crops (scale 0.5-1), flips, 90-degree "
        "rotations, "
        + ("mild " if recipe_value(t, "color_jitter") <= DEFAULT_COLOR_JITTER else "")
        + f"brightness/contrast/saturation jitter of ±{recipe_value(t, 'color_jitter'):g} "
        "(no hue shift: stain colour is signal)"
        + (f"; context swap with probability {t['context_swap']:g} (a field's stained cells pasted on "
           "another smear's background with its cells inpainted away, model/context_swap.py)"
           if t.get("context_swap") else "")
        + (f"; stain jitter of ±{recipe_value(t, 'stain_jitter'):g} in optical density (each "
           "stain's amount scaled and shifted per field)" if recipe_value(t, "stain_jitter") else "")
        + (f"; acquisition shifts at strength {recipe_value(t, 'acquisition'):g} (residual lamp "
           "colour and exposure, stain amount and hue, and on some fields lower magnification, "
           "defocus, a coarser camera, sensor noise, JPEG; model/augment.py)"
           if recipe_value(t, "acquisition") else "")
        + (f"; CutMix on {recipe_value(t, 'cutmix'):.0%} of batches (a rectangle of another field "
           "pasted in, labels mixed by area)" if recipe_value(t, "cutmix") else "")
        + (f"; distilled from {_teachers(t)}: {recipe_value(t, 'distill_weight'):.0%} of the loss "
           f"follows their averaged probabilities at temperature "
           f"{recipe_value(t, 'distill_temperature'):g}." if recipe_value(t, "distill_weight") else "."),
        *([f"- {t['note']}"] if t.get("note") else []),
        f"- Seed {meta['seed']}; "
        + (f"trained with torch {t['torch']} on Python {t['python']}; exported with: "
           if t.get("torch") and t["torch"] != meta["versions"].get("torch") else "versions: ")
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"- Created {meta['created']}",
        "",
        *_robustness_lines(meta.get("robustness")),
        "## Limits",
        ("- One hospital, one staining protocol, one camera and microscope. Colour constancy, "
         "training under acquisition shifts and the focus and unlike-training flags (above) make "
         "the model hold or flag under another lamp, camera or stain batch within the tested "
         "ranges; beyond them it can still be wrong. Validate on your own labelled images "
         "(labapp-eval) and retrain (labapp-train --init) before relying on it."
         if meta.get("white_balance") else
         "- One hospital, one staining protocol, one camera and microscope: other labs' stains, "
         "magnifications or cameras can shift the colours and break the model silently. Validate on "
         "your own labelled images (labapp-eval) and retrain (labapp-train --init) before relying on it."),
        "- Labels are per image (per patient, confirmed by flow cytometry), not per cell.",
        *_context_limit(m.get("context_check")),
        "- Validation blocks come from the same patients' smears as training in part; the independent "
        "held-out test block of the data set was never seen here, and figures on it may be lower.",
        "- Images that do not look like a stained smear field are flagged out of scope by the "
        "application, not by this model; the model always outputs one of its classes.",
        "",
    ]
    return "\n".join(lines)


def _context_lines(cc: dict | None) -> list[str]:
    if not cc or not cc.get("n"):
        return []
    return [f"- Context check (labapp-eval --context-check): with each validation field's background "
            f"swapped for another class's, {_pct(cc['calls_changed'])} of the calls change and "
            f"accuracy is {_pct(cc['accuracy_swapped'])}. A model that reads the stained cells "
            "keeps its calls; one that recognises the smear does not."]


def _context_limit(cc: dict | None) -> list[str]:
    if not cc or not cc.get("n") or cc["calls_changed"] < 0.2:
        return []
    return ["- The calls rest largely on the look of the whole smear (background, red-cell density, "
            "tint), not on the stained cells alone (see the context check above). A new patient "
            "whose smear looks like another class's can have every field misread, confidently: "
            "calls that agree across a case are not proof that they are right."]


def _acquisition_lines(meta: dict) -> list[str]:
    lines = []
    reference = meta.get("white_balance")
    if reference:
        lines.append("- Colour constancy: each field's channels are scaled so that its own unstained "
                     "background lands on RGB (" + ", ".join(f"{v:g}" for v in reference) + "), the "
                     "training fields' median background (model/white_balance.py); a field with no "
                     "usable background is left as captured and its row says so.")
    rng = meta.get("background_range")
    if rng and not reference:
        span = "; ".join(f"{n.replace('_', ' ')} {lo:g} to {hi:g}"
                         for n, lo, hi in zip(rng["names"], rng["low"], rng["high"]))
        lines.append("- Lamp check: the model reads colours as captured, so a field whose "
                     "background (the lamp's colour and the exposure) lies outside that of the "
                     f"training fields ({span}; all but the outer {rng.get('outer_percent')}% of "
                     f"{rng['n']} fields) is "
                     "flagged unlike_training. A field darker than all of them is first lifted "
                     f"to the lowest level ({rng['low'][0]:g}) by one gain on all three channels "
                     "(an exposure difference, undone up to rounding; at most "
                     f"x{MAX_EXPOSURE_GAIN:g}), and flagged only if its tint is still unlike "
                     "theirs.")
    density = meta.get("feature_density")
    if density:
        lines.append(f"- Unlike-training flag: a Mahalanobis distance on the pooled features "
                     f"({density['components']} principal directions, fitted on "
                     f"{density['n_train']} training fields; {density['file']}) above "
                     f"{density['threshold']:.3f}, set from {density['threshold_from']} so that "
                     f"about {1 - density['quantile']:.1%} of fields like the training data are "
                     "flagged.")
    return lines


def _robustness_lines(rob: dict | None) -> list[str]:
    """What the model was tested against (bench/robustness.py) and how it behaves there."""
    if not rob:
        return []
    d = rob["in_domain"]
    lines = ["## Robustness (bench/robustness.py)",
             f"Measured on {rob['fields']} validation fields the model did not train on "
             f"({rob['model']['name']} {rob['model']['version']}), each analysed by the application's "
             "own pipeline (colour constancy, segmentation, scope and focus checks, every flag) as "
             "captured and under each shift of model/shifts.py. In-domain: accuracy "
             f"{_pct(d['accuracy'])}, flagged {_pct(d['flagged'])} (other than low confidence "
             f"{_pct(d['newly_flagged'])}).",
             "",
             "| shift | accuracy | flagged | errors unflagged | unflagged accuracy |",
             "| --- | --- | --- | --- | --- |"]
    for name, r in rob["shifts"].items():
        lines.append(f"| {name} | {_pct(r['accuracy'])} | {_pct(r['flagged'])} | "
                     f"{r['errors_unflagged']} | {_pct(r['unflagged_accuracy'])} |")
    b = rob["blanks"]
    lines += ["", f"Blank slides of {b['n']} stain-like tints and noise levels: flagged "
                  f"{_pct(b['flagged'])}, called without a flag {b['called_unflagged']}.", ""]
    return lines
