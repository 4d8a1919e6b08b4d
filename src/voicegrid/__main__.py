"""The `voicegrid` command's entry (`python -m voicegrid`, and the installed script): it imports the
command line only when run. A spawned process (the analysis worker) imports its parent's main
module first, and this one then costs it nothing: not typer, not the command line's own modules."""


def main() -> None:
    from voicegrid.cli import main as run  # here, not above: see the module's text

    run()


if __name__ == "__main__":  # pragma: no cover
    main()
