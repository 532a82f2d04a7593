"""cnnkit's test suite, and the helpers its tests and bench/ import (`from tests.labcode import ...`)."""
