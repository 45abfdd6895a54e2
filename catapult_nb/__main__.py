from catapult_nb.cli import main

raise SystemExit(main())
