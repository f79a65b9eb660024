"""``python -m xmodal``."""

from xmodal.cli import main

raise SystemExit(main())
