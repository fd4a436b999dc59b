"""The built-in model-family plugins, loaded through the ``photogpt_batch`` entry-point group."""
