"""Stage 3, check: names, types, units, tables and citations; lowers rule files to the typed IR."""
