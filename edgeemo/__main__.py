"""`python -m edgeemo` is the `edgeemo` command."""

from edgeemo.cli import main

if __name__ == "__main__":  # not when multiprocessing's spawn re-imports the main module
    raise SystemExit(main())
