"""Regenerate docs/validation.md (the analysis lives in energy_predict.analysis.validation)."""

from energy_predict.analysis.validation import main

if __name__ == "__main__":
    main()
