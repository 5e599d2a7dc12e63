"""The entry point of ``gptcli`` and ``python -m gptcli``.

``gptcli --version`` is answered here, before the Typer app (and Typer itself) is
imported: a script that checks the version pays for the interpreter and nothing else.
Everything else goes to ``cli.main``, the one exit path.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from gptcli import __version__

        print(f"gptcli {__version__}")
        sys.exit(0)
    from gptcli._gc import frozen_imports

    with frozen_imports():  # Typer and the app: long-lived objects (see _gc)
        from gptcli.cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
