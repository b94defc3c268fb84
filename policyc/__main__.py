from .entry import main  # not .cli: see entry.py (Ctrl-C during start-up)

raise SystemExit(main())
