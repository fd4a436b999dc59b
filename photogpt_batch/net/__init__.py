"""How requests leave this machine: `network` (the proxy for each URL and the certificates TLS trusts, read from
the environment) and `retry` (when a request is tried again: `RetryPolicy`, ``Retry-After``). The client, the
downloads and `doctor` share them; `retry` imports nothing outside the standard library."""
