import sys

from vs2demo.cli.main import main

sys.exit(main())
