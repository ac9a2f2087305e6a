"""The tests, as a package: folders mirror hub/ and equal basenames cannot clash."""
