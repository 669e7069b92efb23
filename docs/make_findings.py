"""Regenerate docs/findings.md and docs/figures/ (the analysis lives in energy_predict.analysis.findings)."""

from energy_predict.analysis.findings import main

if __name__ == "__main__":
    main()
