"""``python -m ffnlp`` runs the command line."""

from ffnlp.cli import main

raise SystemExit(main())
