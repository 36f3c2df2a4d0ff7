#!/bin/bash
# Session script: the kernels sweep through the whole pipeline on this card, captured for replay;
# then parse_bench on this host's CPUs.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
S="$OUT/session"; mkdir -p "$S"
nvidia-smi > "$S/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
bundle="captures/$slug-kernels"
cmd=(python3 -m snakemake --cores 16 --config backend=cuda sweep=kernels)
echo "+ ${cmd[*]}" | tee "$S/snakemake.log"
start=$(date +%s.%N)
timeout 330 "${cmd[@]}" >> "$S/snakemake.log" 2>&1
status=$?
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$S/wall_time.txt"
[ "$status" -eq 0 ] && python3 -m pdprof.cli capture "results/$slug" "$bundle" --command "${cmd[*]}  (device session, .carry/capture.sh)"
tail -5 "$S/snakemake.log"
{ nproc; lscpu | grep -E "Model name|^CPU\(s\)"; python3 -c "import pandas, pyarrow, sys; print('python', sys.version.split()[0], 'pandas', pandas.__version__, 'pyarrow', pyarrow.__version__)"; } > "$S/parse_bench_host.txt" 2>&1
timeout 100 python3 benchmarks/parse_bench.py > "$S/parse_bench.txt" 2>&1; cat "$S/parse_bench.txt" | tail -8
cd "$OUT" && tar czf capture.tgz -C "$OLDPWD" "$bundle" "results/$slug/report" "results/$slug/logs" 2>/dev/null; tar czf session.tgz session && rm -rf session; ls -la "$OUT"
