"""A local three-node MariaDB Galera cluster (cluster.py) and the tests that run Houston on it."""
