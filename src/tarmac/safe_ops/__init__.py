"""Operating safely: rollback hold, bad marks, last good, freeze windows, auto rollback."""
