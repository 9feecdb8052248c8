from nmt_monitor.cli import main

raise SystemExit(main())
