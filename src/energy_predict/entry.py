"""The `energy-predict` console script: the CLI's modules imported with the garbage collector paused.

Importing typer, pydantic, numpy and the CLI makes tens of thousands of objects that live as long as the process and
almost no garbage, yet the collector walks them again and again in ~100 young-generation passes (~0.03 s of CPU, 5%
of a report). So the imports run with it paused, what they made is frozen out of its reach (`gc.freeze`: it would
only walk it to find nothing to free), and it is switched back on for the work itself. `cli.imports_without_gc` does
the same for a command's own imports.
"""


def main() -> None:
    """Console-script entry point: `energy_predict.cli.main` imported without collector passes, then run."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        from energy_predict import cli
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli.freeze_imports = True  # this process runs one command and ends: its imports may be frozen too
    cli.main()
