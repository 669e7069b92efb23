"""Regenerate docs/plan-validation.md (the analysis lives in energy_predict.analysis.plan_validation)."""

from energy_predict.analysis.plan_validation import main

if __name__ == "__main__":
    main()
