import sys

from tfaffect.cli import main

sys.exit(main())
