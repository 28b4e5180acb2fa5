import sys

from tests.galera.cluster import main

sys.exit(main())
