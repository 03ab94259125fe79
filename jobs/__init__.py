"""Background jobs shared by every app: long work runs outside web requests, with progress.

An app registers its job kinds from its ``AppConfig.ready()`` with
:func:`jobs.registry.register`; this app imports no other app. Submitting, running
and recovering jobs: :mod:`jobs.services`; the Celery task: :mod:`jobs.tasks`; the
in-process worker for the embedded default: :mod:`jobs.worker`.
"""
