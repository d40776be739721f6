from gammacore.host.cli import main

raise SystemExit(main())
