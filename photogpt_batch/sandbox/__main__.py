"""``python -m photogpt_batch.sandbox``: the same as ``photogpt-batch sandbox``."""

from .cli import sandbox_command

if __name__ == "__main__":
    sandbox_command()
