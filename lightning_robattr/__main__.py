"""``python -m lightning_robattr``: the LightningCLI entry point."""

from .cli import command_line

if __name__ == "__main__":
    command_line()
