#!/bin/bash
# Session script: the prefill_gemm sweep through the whole pipeline on this card, captured for replay.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
S="$OUT/session"; mkdir -p "$S"
nvidia-smi > "$S/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
bundle="captures/$slug-prefill_gemm"
cmd=(python3 -m snakemake --cores 16 --config backend=cuda sweep=prefill_gemm --rerun-triggers params input software-env code)
echo "+ ${cmd[*]}" | tee "$S/snakemake2.log"
start=$(date +%s.%N)
timeout 200 "${cmd[@]}" >> "$S/snakemake2.log" 2>&1
status=$?
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$S/wall_time2.txt"
[ "$status" -eq 0 ] && python3 -m pdprof.cli capture "results/$slug" "$bundle" --command "first python3 -m snakemake --cores 16 --config backend=cuda sweep=prefill_gemm at efafeb7 (its figures rule failed: log10(0) in the roofline), then ${cmd[*]} at $1 (figures, validation, report; .carry/capture_gemm.sh, .carry/capture_gemm2.sh)"
tail -5 "$S/snakemake2.log"
cp .carry/capture_gemm.sh .carry/capture_gemm2.sh "$S/"
du -sh "$bundle"
cd "$OUT" && tar czf - -C "$OLDPWD" "$bundle" "results/$slug/report" "results/$slug/logs" 2>/dev/null | split -b 15m - capture.tgz.part- ; tar czf session.tgz session && rm -rf session; ls -la "$OUT"
