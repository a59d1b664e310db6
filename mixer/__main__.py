import sys

from mixer.cli import main

sys.exit(main())
