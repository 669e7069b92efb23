"""Analysis behind docs/: findings and validation tables and figures, regenerated from the artifacts.

findings.md: `findings` (the edge: reads the inputs, writes the page and figures) over `findings_data` (every number,
computed), `findings_page` (the text, section by section), `study_rows` (the reference-study table), `figures`,
and the pure pieces they use: `subject` (the model, GPU and configurations the page names), `cells`, `tables`,
`reference`, `speculative`, `replays`, `runs`, `measurements`, `markdown`. validation.md: `validation`.
"""
