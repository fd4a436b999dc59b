"""``python -m photogpt_batch``: the same CLI as ``photogpt-batch``."""

from .cli import main

if __name__ == "__main__":
    main()
