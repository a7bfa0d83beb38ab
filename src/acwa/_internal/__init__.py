"""Private helpers shared by the packages: declared state, the validation vocabulary, progress, plotting."""
