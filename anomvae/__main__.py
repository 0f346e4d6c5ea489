"""``python -m anomvae``: the command line."""

from anomvae.cli import main

if __name__ == "__main__":
    main()
