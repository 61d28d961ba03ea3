# One ferry_fuzz_target(name SOURCES ... LIBS ...) per parser of outside input.
