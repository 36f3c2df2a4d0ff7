"""pdprof.model against exact integers: the issue's corrections of the seed note, GQA, batch, dtype."""

from __future__ import annotations

import json

import pytest

from pdprof import cli, model
from pdprof.model import Shape

SEED_7B = dict(L=32, H=4096, heads=32, kv_heads=8, T=2048)
MHA_7B = {**SEED_7B, "kv_heads": 32}


def test_seed_linear_term_is_24_L_H_squared_per_token_with_mha_and_the_default_mlp():
    shape = Shape(**MHA_7B)
    assert model.linear_flops_per_token(shape) == 24 * 32 * 4096**2 == 12_884_901_888
    per_layer = (
        model.qkv_flops_per_token_layer(shape),
        model.output_projection_flops_per_token_layer(shape),
        model.mlp_flops_per_token_layer(shape),
    )
    assert per_layer == (6 * 4096**2, 2 * 4096**2, 16 * 4096**2)


def test_prefill_linear_term_includes_T():
    cost = model.prefill_cost(Shape(**MHA_7B))
    assert cost.linear_flops == 24 * 32 * 4096**2 * 2048 == 26_388_279_066_624
    assert cost.tokens == 2048


def test_prefill_attention_is_4_L_T2_d_h_and_causal_halves_it_to_the_seeds_formula():
    assert model.prefill_attention_flops(Shape(**SEED_7B)) == 4 * 32 * 2048**2 * 128 * 32 == 2_199_023_255_552
    assert model.prefill_attention_flops(Shape(**SEED_7B, causal=True)) == 1_099_511_627_776


def test_decode_attention_per_token_is_4_L_T_d_h():
    assert model.decode_attention_flops(Shape(**SEED_7B)) == 1_073_741_824
    assert model.decode_cost(Shape(**MHA_7B)).flops == 12_884_901_888 + 1_073_741_824


def test_kv_of_the_whole_context_is_256_mib_read_once_per_decoded_token():
    shape = Shape(**SEED_7B, dtype_bytes=2)
    decode = model.decode_cost(shape)
    assert decode.kv_read_bytes == 268_435_456 == 256 * 2**20
    assert decode.kv_write_bytes == 2 * 32 * 128 * 8 * 2 == 131_072  # one token appended
    assert model.prefill_cost(shape).kv_write_bytes == 268_435_456


def test_gqa_divides_kv_bytes_by_heads_over_kv_heads_and_shrinks_the_qkv_projection():
    mha, gqa = Shape(**MHA_7B), Shape(**SEED_7B)
    assert model.decode_cost(mha).kv_read_bytes == 4 * model.decode_cost(gqa).kv_read_bytes
    assert model.qkv_flops_per_token_layer(gqa) == 2 * 4096 * (4096 + 2 * 8 * 128) == 3 * 4096**2
    assert model.decode_attention_flops(mha) == model.decode_attention_flops(gqa)  # h query heads either way


def test_batch_scales_kv_and_flops_linearly_but_weights_are_read_once_per_step():
    one, eight = model.decode_cost(Shape(**SEED_7B)), model.decode_cost(Shape(**SEED_7B, batch=8))
    assert eight.kv_read_bytes == 8 * one.kv_read_bytes
    assert eight.flops == 8 * one.flops
    assert eight.weight_bytes == one.weight_bytes
    assert eight.intensity > one.intensity
    assert model.prefill_cost(Shape(**SEED_7B, batch=3)).attention_flops == 3 * 2_199_023_255_552


def test_dtype_scales_bytes_not_flops():
    bf16, fp8 = Shape(**SEED_7B, dtype_bytes=2), Shape(**SEED_7B, dtype_bytes=1)
    assert model.decode_cost(bf16).bytes == 2 * model.decode_cost(fp8).bytes
    assert model.decode_cost(bf16).flops == model.decode_cost(fp8).flops


def test_gated_mlp_with_configured_width():
    shape = Shape(**SEED_7B, ffn=11008, mlp_projections=3)
    assert model.mlp_flops_per_token_layer(shape) == 2 * 3 * 4096 * 11008
    assert model.parameter_count(shape) == 32 * (4096 * (4096 + 2 * 8 * 128) + 4096**2 + 3 * 4096 * 11008)


def test_parameters_and_activations_of_the_example():
    shape = Shape(**SEED_7B)
    assert model.parameter_count(shape) == 32 * 21 * 4096**2 // 2 == 5_637_144_576
    assert model.weight_bytes(shape) == 2 * 5_637_144_576
    assert model.prefill_cost(shape).activation_bytes == 2 * 32 * 2048 * 4096 * 2


def test_counts_stay_exact_integers_beyond_float_precision():
    shape = Shape(L=200, H=65536, heads=64, kv_heads=8, T=1_048_576, batch=512)
    attention = model.prefill_attention_flops(shape)
    assert isinstance(attention, int)
    assert attention == 512 * 200 * 4 * 1_048_576**2 * 1024 * 64
    assert attention > 2**53


def test_roofline_prediction_on_datasheet_and_calibrated_ceilings():
    shape = Shape(**SEED_7B)
    peaks = model.ceilings("h100-sxm", 2)
    assert (peaks.dram_bytes_per_s, peaks.flops_per_s, peaks.source) == (3.35e12, 989e12, "datasheet")
    decode = model.predict(model.decode_cost(shape), peaks)
    assert decode.bound == "memory"
    assert decode.time_s == pytest.approx(model.decode_cost(shape).bytes / 3.35e12)
    assert decode.tokens_per_s == pytest.approx(1 / decode.time_s)
    assert model.predict(model.prefill_cost(shape), peaks).bound == "compute"
    measured = model.ceilings("h100-sxm", 2, {"dram_bytes_per_s": 3.0e12})
    assert measured.dram_bytes_per_s == 3.0e12 and measured.flops_per_s == 989e12
    assert measured.source == "calibration+datasheet"
    assert model.ceilings("h100-sxm", 4).flops_per_s == 67e12
    assert model.ceilings("a100-80gb", 2).dram_bytes_per_s == 2.039e12
    assert model.ceilings("mi300x", 2).dram_bytes_per_s == 5.3e12


def test_unknown_gpu_needs_a_full_calibration():
    with pytest.raises(model.ModelError, match="no bf16 peaks"):
        model.ceilings("rtx-9999", 2)
    peaks = model.ceilings("rtx-9999", 2, {"dram_bytes_per_s": 1e12, "flops_per_s": 1e14})
    assert peaks.source == "calibration"
    with pytest.raises(model.ModelError, match="no fp8 peaks"):
        model.ceilings("a100-80gb", 1)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", None),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
        ("AMD Instinct MI300X", "mi300x"),
        ("NVIDIA GeForce RTX 5090", None),
    ],
)
def test_datasheet_key_from_device_name(name, key):
    assert model.datasheet_key(name) == key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"H": 4100, "heads": 32}, "not divisible by heads"),
        ({"kv_heads": 5}, "not divisible by kv_heads"),
        ({"T": 0}, "T must be a positive"),
        ({"mlp_projections": 4}, "mlp_projections must be 2 or 3"),
        ({"ffn": 0}, "ffn must be a positive"),
    ],
)
def test_invalid_shapes_are_refused(fields, message):
    with pytest.raises(model.ModelError, match=message):
        Shape(**{**SEED_7B, **fields})


def test_seed_errata_list_the_issues_corrections():
    errata = {entry["quantity"]: entry for entry in model.SEED_ERRATA}
    assert all(set(e) == {"quantity", "seed_value", "correct_value", "explanation"} for e in errata.values())
    by_seed = {e["seed_value"]: e["correct_value"] for e in model.SEED_ERRATA}
    assert by_seed[33_554_432] == 1_073_741_824
    assert by_seed[1_112_396_544_288] == 1_099_511_627_776
    assert by_seed[12.91e9] == 13_958_643_712
    corrected = [e["correct_value"] for e in model.SEED_ERRATA]
    assert 12_884_901_888 in corrected and 26_388_279_066_624 in corrected
    kv = next(e for e in model.SEED_ERRATA if e["seed_value"] == 268_435_456)
    assert kv["correct_value"] == 268_435_456 and "whole" in kv["explanation"]
    cap = next(e for e in model.SEED_ERRATA if e["seed_value"] == 5.7e3)
    assert cap["correct_value"] == pytest.approx(1.5e12 / model.decode_cost(Shape(**SEED_7B)).bytes)


def test_seed_kernel_model_matches_the_benchmarks_own_counts():
    # bench.json of the H100 capture: kv_bytes_per_step 536,870,912 at T=2048; kv_distinct_bytes 16 MiB
    assert model.seed_decode_bytes_per_context_token(32, 4096, 32, 8) * 2048 == 536_870_912
    assert model.seed_decode_working_set(4096, 32, 8, 2048) == 16 * 2**20
    assert model.seed_prefill_flops_per_iteration(32, 4096, 2048) * 256 == 274_877_906_944


def test_cli_model_json_prints_exact_integers(capsys):
    argv = ["model", "--L", "32", "--H", "4096", "--heads", "32", "--kv-heads", "8", "--T", "2048"]
    assert cli.main([*argv, "--dtype-bytes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decode"]["flops"]["attention"] == 1_073_741_824
    assert result["decode"]["bytes"]["kv_read"] == 268_435_456
    assert result["prefill"]["flops"]["attention"] == 2_199_023_255_552
    assert result["shape"]["head_dim"] == 128 and result["ceilings"]["gpu"] == "h100-sxm"
    assert result["decode"]["predicted"]["bound"] == "memory"

    assert cli.main([*argv, "--causal", "--gpu", "h200"]) == 0
    table = capsys.readouterr().out
    assert "1,099,511,627,776" in table and "268,435,456" in table and "4,800 GB/s" in table


def test_cli_model_reads_a_calibration_and_reports_bad_input(tmp_path, capsys):
    argv = ["model", "--L", "2", "--H", "64", "--heads", "4", "--kv-heads", "2", "--T", "16", "--json"]
    calibration = tmp_path / "peaks.json"
    calibration.write_text(json.dumps({"dram_bytes_per_s": 2.9e12}))
    assert cli.main([*argv, "--calibration", str(calibration)]) == 0
    assert json.loads(capsys.readouterr().out)["ceilings"]["dram_bytes_per_s"] == 2.9e12
    calibration.write_text(json.dumps({"bandwidth": 1}))
    assert cli.main([*argv, "--calibration", str(calibration)]) == 2
    assert "calibration" in capsys.readouterr().err
    assert cli.main(["model", "--L", "2", "--H", "60", "--heads", "8", "--kv-heads", "2", "--T", "16"]) == 2
    assert "not divisible" in capsys.readouterr().err
