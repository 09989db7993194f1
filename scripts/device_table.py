#!/usr/bin/env python3
"""The final table of scripts/device-check.sh: hrseg's kernels (bench_cuda JSON) beside PyTorch
eager (torch_baseline JSON), same GPU, same run. Usage: device_table.py bench.json torch.json"""
import json
import os
import sys

if not os.path.exists(sys.argv[1]):
    sys.exit("no benchmark results (%s): bench_cuda did not run; see the lines above" % sys.argv[1])
ours = json.load(open(sys.argv[1]))
theirs = {}
if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
    theirs = {o["op"]: o["ms"] for o in json.load(open(sys.argv[2]))["ops"]}
else:
    print("(no PyTorch baseline results: the speed-up column is empty)")
targets = {"head image step, fp32 (all of the above)": 0.5, "AMG post-processing (1024 prompts x 3, 1024x1024)": 5.0}
print()
print(f"device: {ours['device']}; ceilings measured in this run: copy {ours['copy_gbs']:.0f} GB/s, "
      f"fp32 FMA {ours['fma_gflops']:.0f} GFLOP/s, fp16 tensor cores {ours['tc_gflops']:.0f} GFLOP/s")
print(f"{'operation':66s} {'hrseg ms':>9s} {'achieved':>16s} {'of ceil':>8s} {'torch ms':>9s} {'speed-up':>9s}  target")
for o in ours["ops"]:
    t = theirs.get(o["op"])
    target = targets.get(o["op"])
    verdict = ""
    if target is not None:
        ok = o["ms"] < target and (t is None or t / o["ms"] >= 10)
        verdict = f"< {target} ms and >= 10x: {'met' if ok else 'NOT met'}"
    ms, share = o["ms"], 100 * o["achieved"] / o["ceiling"]
    torch_ms = "%9.4f" % t if t is not None else "        -"
    speedup = "%8.1fx" % (t / ms) if t is not None else "        -"
    print("%-66s %9.4f %10.1f %-5s %7.1f%% %s %s  %s" % (o["op"], ms, o["achieved"], o["unit"], share, torch_ms, speedup, verdict))
