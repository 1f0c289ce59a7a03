"""`python -m edgeemo` is the `edgeemo` command."""

from edgeemo.cli import main

raise SystemExit(main())
