from replay import main

raise SystemExit(main())
