"""The quality pipeline's steps: each takes a table of rows and returns the kept/changed table.

A step is a ``PipelineStep`` (a Protocol): a ``name``, its validated ``params``, and
``apply(table) -> StepOutcome`` (optionally ``apply(table, rows)``, calling ``rows(done)`` now
and then so a background job can show rows done). ``podium.data.pipeline.parse_pipeline``
looks each name up in ``STEPS``; built-in steps register there, and third-party steps can be
added to the same mapping.
Tables hold the ``input``, ``expected`` and ``metadata`` columns (Arrow); steps run in memory
over one version, so the pipeline's memory grows with the version's size.
"""
