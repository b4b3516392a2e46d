"""Read-only collection of one AWS account into a ``Snapshot``.

One module per service, each ``get_*`` (calls, paginates, returns raw boto3 dicts) followed by
``normalise_*`` (pure). ``runner.collect_account`` runs them over regions; ``runner.COLLECTORS`` is
the registry the CLI's ``--services`` choices come from.
"""
