"""``python -m lightning_robattr``: the LightningCLI entry point."""

from .cli import main

if __name__ == "__main__":
    main()
