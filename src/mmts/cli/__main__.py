from mmts.cli.main import main

raise SystemExit(main())
