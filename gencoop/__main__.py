import sys

from gencoop.cli import main

sys.exit(main())
