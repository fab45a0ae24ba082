"""The report of ``bench/quality.py``: summary and targets, seed-to-seed spread, markdown table, plot.

Works on the arm results as ``bench/quality.py`` records them (``{arm: {tasks: {task: {metric, value, ...}},
train_seconds, parameters, ...}, "transfer": {...}}``), whichever arms have finished.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

REFINE_SUFFIX = "_refine"
ARM_ORDER = ("stock", "single", "joint_proportional", "joint_temperature", "joint_annealed", "joint_uniform",
             "joint_temperature_scaled", "joint_temperature_layers1", "joint_temperature_layers2",
             "joint_temperature_adapters", "joint_temperature_adapters2")
# The targets, in points (1 point = 0.01 of a score).
TARGET_WORST_TASK_POINTS = -0.5
TARGET_TIME_VS_STOCK = 0.5
# Issue #23's targets for one served model with task-specific capacity (against single and the fully shared model).
CAPACITY_TARGET_WORST_TASK_POINTS = -0.3
CAPACITY_TARGET_PARAMETERS_VS_ONE_MODEL = 1.5
CAPACITY_TARGET_INFERENCE_TIME_VS_SHARED = 2.0


def ordered_arms(results: dict[str, Any]) -> list[str]:
    """The arms with task results: the known order first, then the others (refine, new joint arms) by name."""
    arms = [arm for arm in results if isinstance(results[arm], dict) and "tasks" in results[arm]]
    return [a for a in ARM_ORDER if a in arms] + sorted(a for a in arms if a not in ARM_ORDER)


def refine_source(arm: str) -> str | None:
    """The joint arm a refine arm starts from (``joint_temperature_refine`` and a longer or per-task refine such as
    ``joint_temperature_refine_ner_750`` -> ``joint_temperature``); ``None`` for any other arm."""
    source, suffix, _ = arm.partition(REFINE_SUFFIX)
    return source if suffix and source.startswith("joint_") else None


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` on top of what the file holds now, so that two runs of different arms side by
    side (``--arms joint_temperature_adapters`` on one core, ``--arms joint_temperature_layers2`` on the other) both
    keep their arms: each run's own arms win, an arm only the file has (the other run's) stays. Bookkeeping keys
    (``_partial``, a per-task arm's finished tasks) are this run's alone, so a finished arm's is not brought back."""
    on_disk = json.loads(path.read_text()) if path.exists() else {}
    others = {key: value for key, value in on_disk.items() if key not in results and not key.startswith("_")}
    results.update(others)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def is_joint(arm: str) -> bool:
    """A joint arm without refinement (``joint_<strategy>``, ``joint_<strategy>_<option>``)."""
    return arm.startswith("joint_") and refine_source(arm) is None


def _mean(values: list[float | None]) -> float | None:
    values = [value for value in values if value is not None]
    return sum(values) / len(values) if values else None


def best_joint_arm(results: dict[str, Any]) -> str | None:
    """The finished joint arm (refine arms excluded) with the highest mean score."""
    means = {arm: _mean([e["value"] for e in results[arm]["tasks"].values()])
             for arm in ordered_arms(results) if is_joint(arm)}
    means = {arm: mean for arm, mean in means.items() if mean is not None}
    return max(means, key=means.get) if means else None


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per arm: mean, time, parameters, difference to single per task and worst task, time vs stock; targets."""
    out: dict[str, Any] = {}
    every_task = {task for arm in ordered_arms(results) for task in results[arm]["tasks"]}
    for arm in ordered_arms(results):
        result = results[arm]
        # an arm of some tasks only (a longer NER refine) has no mean comparable with the others'
        partial = set(result["tasks"]) < every_task
        out[arm] = {"mean": None if partial else _mean([entry["value"] for entry in result["tasks"].values()]),
                    "train_seconds": result["train_seconds"], "parameters": result["parameters"]}
        if arm != "single" and "single" in results:
            single = results["single"]["tasks"]
            diffs = {task: result["tasks"][task]["value"] - single[task]["value"]
                     for task in single if task in result["tasks"] and result["tasks"][task]["value"] is not None}
            if diffs:
                out[arm]["difference_to_single"] = diffs
                out[arm]["worst_difference_points"] = 100 * min(diffs.values())
        if arm != "stock" and "stock" in results:
            out[arm]["time_vs_stock_sum"] = result["train_seconds"] / results["stock"]["train_seconds"]
    out["targets"] = targets(results, out)
    return out


def targets(results: dict[str, Any], arms: dict[str, Any]) -> dict[str, Any]:
    """The issue's three targets, measured on whatever arms have finished (``None`` where one cannot be told)."""
    best = best_joint_arm(results)
    out: dict[str, Any] = {"best_joint_arm": best}
    if best and "single" in arms:
        mean_points = 100 * (arms[best]["mean"] - arms["single"]["mean"])
        worst = arms[best]["worst_difference_points"]
        ratio = arms[best].get("time_vs_stock_sum")
        out["joint"] = {
            "mean_minus_single_points": mean_points, "worst_task_points": worst, "time_vs_stock": ratio,
            "met": mean_points >= 0 and worst >= TARGET_WORST_TASK_POINTS
            and (ratio is None or ratio <= TARGET_TIME_VS_STOCK),
        }
    # refine arms of every task (a refine of some tasks only, e.g. a longer NER refine, is not a served model)
    refines = [arm for arm in ordered_arms(results) if refine_source(arm) and "difference_to_single" in arms[arm]
               and set(arms[arm]["difference_to_single"]) == set(results["single"]["tasks"])]
    if refines:
        refine = max(refines, key=lambda arm: arms[arm]["mean"])
        points = {task: 100 * diff for task, diff in arms[refine]["difference_to_single"].items()}
        out["refine"] = {"arm": refine, "minus_single_points": points, "met": min(points.values()) >= 0}
    transfer = results.get("transfer") or {}
    pairs = {kind: (transfer.get(f"from_joint_{kind}"), transfer.get(f"from_encoder_{kind}"))
             for kind in ("frozen", "unfrozen")}
    gains = {kind: 100 * (joint["value"] - encoder["value"]) for kind, (joint, encoder) in pairs.items()
             if joint and encoder}
    if gains:
        out["transfer"] = {"joint_minus_encoder_points": gains, "met": min(gains.values()) > 0}
    return out


def noise_spread(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seed-to-seed spread from ``{seed: {arm: result}}``: per arm and task, values, mean, std and range in points."""
    out: dict[str, Any] = {}
    arms = sorted({arm for by_arm in runs.values() for arm in ordered_arms(by_arm)})
    for arm in arms:
        per_task: dict[str, list[float]] = {}
        for seed in sorted(runs, key=int):
            for task, entry in runs[seed].get(arm, {}).get("tasks", {}).items():
                per_task.setdefault(task, []).append(entry["value"])
        out[arm] = {task: {"values": values, "mean": statistics.fmean(values),
                           "std_points": 100 * statistics.stdev(values) if len(values) > 1 else None,
                           "range_points": 100 * (max(values) - min(values))}
                    for task, values in per_task.items()}
    return out


def target_lines(summ: dict[str, Any]) -> list[str]:
    """One line per target: measured numbers and met / missed."""
    goals = summ.get("targets", {})
    lines = []
    if "joint" in goals:
        joint = goals["joint"]
        ratio = "n/a (no stock arm)" if joint["time_vs_stock"] is None else f"{joint['time_vs_stock']:.2f}x"
        lines.append(f"target 1 ({goals['best_joint_arm']}): mean {joint['mean_minus_single_points']:+.2f} points vs "
                     f"single (goal >= 0), worst task {joint['worst_task_points']:+.2f} points (goal >= "
                     f"{TARGET_WORST_TASK_POINTS}), time {ratio} the stock Trainer's (goal <= {TARGET_TIME_VS_STOCK}x): "
                     f"{'met' if joint['met'] else 'missed'}")
    if "refine" in goals:
        refine = goals["refine"]
        per_task = ", ".join(f"{task} {points:+.2f}" for task, points in refine["minus_single_points"].items())
        lines.append(f"target 2 ({refine['arm']}): vs single, points per task: {per_task} (goal >= 0 on every task): "
                     f"{'met' if refine['met'] else 'missed'}")
    if "transfer" in goals:
        gains = ", ".join(f"{kind} {points:+.2f}" for kind, points in goals["transfer"]["joint_minus_encoder_points"].items())
        lines.append(f"target 3 (transfer to uner): from the joint model minus from the raw encoder, points: {gains} "
                     f"(goal > 0): {'met' if goals['transfer']['met'] else 'missed'}")
    if "noise" in summ:
        for arm, tasks in summ["noise"].items():
            spread = ", ".join(f"{task} std {value['std_points']:.2f} / range {value['range_points']:.2f}"
                               for task, value in tasks.items() if value["std_points"] is not None)
            lines.append(f"noise ({arm}, {summ.get('noise_meta', {}).get('seeds', '?')} seeds): points: {spread}")
    return lines


def markdown(results: dict[str, Any], tasks: tuple[str, ...]) -> str:
    """The per-task table of every finished arm (plus the transfer table)."""
    arms = ordered_arms(results)
    lines = ["| task | metric | " + " | ".join(arms) + " |", "|---|---|" + "---|" * len(arms)]
    for task in tasks:
        metric = next((results[a]["tasks"][task]["metric"] for a in arms if task in results[a]["tasks"]), "")
        cells = []
        for arm in arms:
            entry = results[arm]["tasks"].get(task)
            cells.append("n/a" if entry is None or entry["value"] is None else f"{entry['value']:.4f}")
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    summ = summary(results)

    def row(label: str, cell: Any) -> str:
        return f"| {label} | | " + " | ".join(cell(a) for a in arms) + " |"

    lines.append(row("**mean**", lambda a: "n/a" if summ[a]["mean"] is None else f"{summ[a]['mean']:.4f}"))
    lines.append(row("train time (s)", lambda a: f"{summ[a]['train_seconds']:.0f}"))
    lines.append(row("parameters", lambda a: f"{summ[a]['parameters']:,}"))
    lines.append(row("examples seen", lambda a: "/".join(
        str(results[a]["tasks"].get(t, {}).get("examples_seen", "-")) for t in tasks)))
    transfer = {k: v for k, v in (results.get("transfer") or {}).items() if k != "load_average"}
    if transfer:
        lines += ["", "| transfer to `uner` | encoder | learning rate | F1 on UNER test | train s |", "|---|---|---|---|---|"]
        for name, entry in transfer.items():
            start, frozen = name.rsplit("_", 1)
            lines.append(f"| {start.replace('_', ' ')} | {frozen} | {entry['learning_rate']:g} | {entry['value']:.4f} | "
                         f"{entry['train_seconds']:.0f} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], tasks: tuple[str, ...], path: Path) -> None:
    """Per-task bars of every finished arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = ordered_arms(results)
    if not arms:
        return
    width = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, arm in enumerate(arms):
        values = [results[arm]["tasks"].get(t, {}).get("value") or 0.0 for t in tasks]
        bars = ax.bar(np.arange(len(tasks)) + (i - (len(arms) - 1) / 2) * width, values, width, label=arm)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    metric = {t: next((results[a]["tasks"][t]["metric"].split(" (")[0] for a in arms if t in results[a]["tasks"]), "")
              for t in tasks}
    ax.set_xticks(np.arange(len(tasks)), [f"{t}\n({metric[t]})" for t in tasks])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score on the scoring split")
    ax.set_title("hf_mtl quality: one model per task vs one joint model (all-MiniLM-L6-v2)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ trade-off
def served_by(arm: str, inference: dict[str, Any], capacity_arms: set[str]) -> str | None:
    """The arm of ``bench/quality_inference.py`` whose inference cost ``arm`` has (None: not measured).

    One model per task (``single``, ``stock``, refined arms) serves four models (``four_models``); an arm measured
    on its own saved model has its own entry; an arm of ``capacity_arms`` (task-specific layers or adapters) has
    no other; any other joint arm is the fully shared model (``shared``: the cost does not depend on the weights).
    """
    measured = inference.get("arms", {})
    if arm in measured:
        return arm
    if arm in ("single", "stock") or refine_source(arm):
        return "four_models" if "four_models" in measured else None
    return None if arm in capacity_arms or "shared" not in measured else "shared"


def tradeoff(results: dict[str, Any], inference: dict[str, Any], capacity_arms: set[str]) -> dict[str, dict[str, Any]]:
    """Per arm: mean and worst task vs single (points), parameters (x one single-task model), train time and
    inference speed of all four heads (sentences/s, x the fully shared model)."""
    summ = summary(results)
    one_model = results["single"]["parameters"] / len(results["single"]["tasks"]) if "single" in results else None
    out = {}
    for arm in ordered_arms(results):
        row = {"mean": summ[arm]["mean"], "parameters": summ[arm]["parameters"],
               "train_seconds": summ[arm]["train_seconds"]}
        if "single" in summ and arm != "single" and summ[arm]["mean"] is not None:
            row["mean_minus_single_points"] = 100 * (summ[arm]["mean"] - summ["single"]["mean"])
            diffs = summ[arm].get("difference_to_single", {})
            if diffs:
                worst = min(diffs, key=diffs.get)
                row["worst_task"], row["worst_task_points"] = worst, 100 * diffs[worst]
        if one_model:
            row["parameters_vs_one_model"] = summ[arm]["parameters"] / one_model
        # an arm of some tasks only (a longer NER refine) is not a model serving the four tasks: no inference cost
        source = served_by(arm, inference, capacity_arms) if summ[arm]["mean"] is not None else None
        if source:
            row["inference"] = source
            row["sentences_per_s"] = inference["arms"][source]["sentences_per_s"]
            row["inference_vs_shared"] = inference["arms"][source]["ratio_to_shared"]
            if "run" in inference["arms"][source]:  # timed in an earlier run, against that run's shared model
                row["inference_run"] = inference["arms"][source]["run"]
        out[arm] = row
    return out


def capacity_targets(rows: dict[str, dict[str, Any]], capacity_arms: set[str]) -> dict[str, dict[str, Any]]:
    """Issue #23's targets per finished capacity arm of the trade-off ``rows``: mean >= single, no task more than
    0.3 points below, at most 1.5x one model's parameters, at most 2x the fully shared model's inference time
    (``None`` where not measured); ``met`` only when all four are."""
    out = {}
    for arm, row in rows.items():
        if arm not in capacity_arms or "mean_minus_single_points" not in row:
            continue
        time_ratio = 1 / row["inference_vs_shared"] if row.get("inference_vs_shared") else None
        checks = {"mean": row["mean_minus_single_points"] >= 0,
                  # points are differences of scores: a tolerance so that -0.3000000000000003 is at the limit
                  "worst_task": row["worst_task_points"] >= CAPACITY_TARGET_WORST_TASK_POINTS - 1e-9,
                  "parameters": row["parameters_vs_one_model"] <= CAPACITY_TARGET_PARAMETERS_VS_ONE_MODEL,
                  "inference": None if time_ratio is None else time_ratio <= CAPACITY_TARGET_INFERENCE_TIME_VS_SHARED}
        out[arm] = {"inference_time_vs_shared": time_ratio, "checks": checks, "met": all(checks.values())}
    return out


def capacity_target_lines(rows: dict[str, dict[str, Any]], goals: dict[str, dict[str, Any]]) -> list[str]:
    """One line per capacity arm of :func:`capacity_targets`: its four figures (from its trade-off row), met / missed."""
    lines = []
    for arm, goal in goals.items():
        row = rows[arm]
        time = ("not measured" if goal["inference_time_vs_shared"] is None
                else f"{goal['inference_time_vs_shared']:.2f}x the fully shared model's")
        missed = [name if ok is False else f"{name} not measured" for name, ok in goal["checks"].items() if not ok]
        lines.append(f"capacity target ({arm}): mean {row['mean_minus_single_points']:+.2f} points vs single (goal >= 0), "
                     f"worst {row['worst_task']} {row['worst_task_points']:+.2f} (goal >= "
                     f"{CAPACITY_TARGET_WORST_TASK_POINTS}), parameters {row['parameters_vs_one_model']:.2f}x one model "
                     f"(goal <= {CAPACITY_TARGET_PARAMETERS_VS_ONE_MODEL}x), inference time {time} "
                     f"(goal <= {CAPACITY_TARGET_INFERENCE_TIME_VS_SHARED}x): "
                     + ("met" if goal["met"] else f"missed ({', '.join(missed)})"))
    return lines


def tradeoff_markdown(rows: dict[str, dict[str, Any]], noise_points: float | None = None) -> str:
    """The trade-off table (one row per arm)."""
    noise = f" (seed noise: range {noise_points:.2f})" if noise_points is not None else ""
    lines = [f"| arm | mean | vs single, points{noise} | worst task, points | parameters (x one model) | train s | "
             "inference, sentences/s (x fully shared) |", "|---|---:|---:|---|---:|---:|---:|"]
    earlier: list[str] = []
    for arm, row in rows.items():
        vs = f"{row['mean_minus_single_points']:+.2f}" if "mean_minus_single_points" in row else "-"
        worst = f"{row['worst_task']} {row['worst_task_points']:+.2f}" if "worst_task" in row else "-"
        params = f"{row['parameters']:,}" + (f" ({row['parameters_vs_one_model']:.2f}x)" if "parameters_vs_one_model" in row else "")
        speed = f"{row['sentences_per_s']:.1f} ({row['inference_vs_shared']:.2f}x)" if "sentences_per_s" in row else "not measured"
        if "inference_run" in row:
            speed += " †"
            earlier.append(f"{arm}: {row['inference_run'].get('date') or 'an earlier run'}, fully shared model "
                           f"{row['inference_run']['shared_sentences_per_s']:.1f} sentences/s there")
        mean = "n/a" if row["mean"] is None else f"{row['mean']:.4f}"
        lines.append(f"| {arm} | {mean} | {vs} | {worst} | {params} | {row['train_seconds']:,.0f} | {speed} |")
    if earlier:
        lines.append("\n† measured side by side with the fully shared model in an earlier run (its ratio is that run's): "
                     + "; ".join(earlier))
    return "\n".join(lines)


def tradeoff_plot(rows: dict[str, dict[str, Any]], path: Path) -> None:
    """Mean score vs parameters; each point's area grows with its inference time (1 / speed vs fully shared)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {arm: row for arm, row in rows.items() if row["mean"] is not None}
    if not points:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for arm, row in points.items():
        cost = 1 / row["inference_vs_shared"] if "inference_vs_shared" in row else None
        ax.scatter(row["parameters"] / 1e6, row["mean"], s=80 * (cost or 1), marker="o" if cost else "x")
        label = f"{arm}\n" + (f"{cost:.2f}x inference time" if cost else "inference not measured")
        ax.annotate(label, (row["parameters"] / 1e6, row["mean"]), fontsize=7, xytext=(5, 5), textcoords="offset points")
    ax.margins(x=0.3, y=0.25)  # room for the labels
    ax.set_xlabel("parameters served (millions)")
    ax.set_ylabel("mean score of the four tasks")
    ax.set_title("hf_mtl: accuracy vs parameters vs inference cost (area: inference time vs fully shared)")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
