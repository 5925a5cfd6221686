from kohyawiz.cli import main

raise SystemExit(main())
