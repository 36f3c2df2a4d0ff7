#!/bin/bash
# Session script: the decode_attention sweep through the whole pipeline on this card, captured for replay.
source .carry/activate.sh
export PYTHONPATH="$PWD/src:$PYTHONPATH" PYTHONUNBUFFERED=1 PDPROF_GIT_REV="$1"
S="$OUT/session"; mkdir -p "$S"
nvidia-smi > "$S/nvidia-smi.txt" 2>&1
slug=$(python3 -m pdprof.cli backend --config config/config.yaml | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpu_slug"])')
bundle="captures/$slug-decode_attention"
cmd=(python3 -m snakemake --cores 16 --config backend=cuda sweep=decode_attention)
echo "+ ${cmd[*]}" | tee "$S/snakemake.log"
start=$(date +%s.%N)
timeout 420 "${cmd[@]}" >> "$S/snakemake.log" 2>&1
status=$?
end=$(date +%s.%N)
python3 -c "print(f'pipeline wall time: {$end - $start:.1f} s (exit {$status})')" | tee "$S/wall_time.txt"
[ "$status" -eq 0 ] && python3 -m pdprof.cli capture "results/$slug" "$bundle" --command "${cmd[*]}  (device session, .carry/v7/f2.sh)"
tail -5 "$S/snakemake.log"
cp .carry/v7/f2.sh "$S/"
du -sh "$bundle"
cd "$OUT" && tar czf - -C "$OLDPWD" "$bundle" "results/$slug/report" "results/$slug/logs" 2>/dev/null | split -b 15m - capture.tgz.part- ; tar czf session.tgz session && rm -rf session; ls -la "$OUT"
