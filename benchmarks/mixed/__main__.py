"""``python -m benchmarks.mixed``."""

from benchmarks.mixed.cli import main

if __name__ == "__main__":
    main()
