"""`python -m sr_engine ...` is the same as the `sr-engine` console script."""

from sr_engine.cli import main

raise SystemExit(main())
