#!/bin/bash
# v8 session 5: the decode_attention_fp8 sweep through the whole pipeline on this card,
# captured for replay; then the kernel table at the same commit.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
S="$OUT/session"; mkdir -p "$S"
nvidia-smi > "$S/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
bundle="captures/$slug-decode_attention_fp8"
cmd=(python3 -m snakemake --cores 16 --config backend=cuda sweep=decode_attention_fp8)
echo "+ ${cmd[*]}" | tee "$S/snakemake.log"
start=$(date +%s.%N)
timeout 330 "${cmd[@]}" >> "$S/snakemake.log" 2>&1
status=$?
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$S/wall_time.txt"
[ "$status" -eq 0 ] && python3 -m pdprof.cli capture "results/$slug" "$bundle" --command "${cmd[*]}  (device session, .carry/v8/s5.sh)"
tail -5 "$S/snakemake.log"
cp .carry/v8/s5.sh "$S/"
du -sh "$bundle"
T="$OUT/table"; mkdir -p "$T"
start=$(date +%s)
timeout 200 python3 benchmarks/kernels.py --nsys --repeats 10 --out /tmp/v8 > "$T/kernels.log" 2>&1; echo "kernels.py exit $? after $(( $(date +%s) - start )) s" >> "$T/kernels.log"; tail -36 "$T/kernels.log" | grep -v Processing
cp /tmp/v8/kernels_table.json /tmp/v8/calibration.json "$T/" 2>/dev/null
mkdir -p "$T/json" && cp /tmp/v8/*.json "$T/json/" 2>/dev/null
cd "$OUT" && tar czf - -C "$OLDPWD" "$bundle" "results/$slug/report" "results/$slug/logs" 2>/dev/null | split -b 15m - capture.tgz.part- ; tar czf session.tgz session table && rm -rf session table; ls -la "$OUT"
