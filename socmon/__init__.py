"""socmon: shared plumbing (settings, logs, metrics, Elasticsearch client, storage) and the CLI.

The product is split by layer into top-level packages that depend only on the layers before
them: ``socmon`` (this package: plumbing) <- ``collectors`` <- ``rules`` (detection) <-
``alerting`` <- ``api``. The CLI (``socmon.cli``) sits on top and imports layers lazily.
"""

__version__ = "0.1.0"
