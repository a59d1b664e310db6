"""evals.run_eval: what a run's result.json records from the harness."""
from evals.run_eval import task_columns


def test_every_metric_a_task_reports_is_recorded_and_a_missing_main_metric_is_said():
    """Defect 6: result.json kept one metric per task (acc before acc_norm) and a perplexity-only task was
    recorded as null without a word."""
    results = {  # the shape of lm_eval.simple_evaluate(...)["results"]
        "cm_local_reasoning": {"alias": "cm_local_reasoning", "acc,none": 0.25, "acc_stderr,none": 0.07,
                               "acc_norm,none": 0.3125, "acc_norm_stderr,none": 0.08},
        "cm_rolling": {"alias": "cm_rolling", "word_perplexity,none": 120.5, "word_perplexity_stderr,none": "N/A",
                       "byte_perplexity,none": 2.25, "bits_per_byte,none": 1.17},
        "gsm": {"alias": "gsm", "exact_match,strict-match": 0.5, "exact_match,flexible-extract": 0.75},
    }
    said = []
    row = task_columns(results, say=said.append)
    assert row["task_cm_local_reasoning"] == 0.25
    assert row["task_cm_local_reasoning.acc_norm"] == 0.3125 and row["task_cm_local_reasoning.acc_norm_stderr"] == 0.08
    assert row["task_cm_rolling"] is None
    assert row["task_cm_rolling.word_perplexity"] == 120.5 and row["task_cm_rolling.bits_per_byte"] == 1.17
    assert "task_cm_rolling.word_perplexity_stderr" not in row                  # "N/A" is not a number
    assert row["task_gsm.exact_match_strict-match"] == 0.5 and row["task_gsm.exact_match_flexible-extract"] == 0.75
    assert len(said) == 2 and all("warning" in line for line in said)         # cm_rolling and gsm lack a main one
    assert "cm_rolling" in said[0]
