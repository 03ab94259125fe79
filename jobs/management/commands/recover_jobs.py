"""`manage.py recover_jobs`: requeue or fail jobs whose process died; redispatch queued ones."""

import json

from django.core.management.base import BaseCommand

from jobs.services import job_recover


class Command(BaseCommand):
    help = (
        "Find running jobs whose worker process is gone: queue them again (or mark them failed "
        "after ICELAB_JOB_MAX_ATTEMPTS), and without a broker hand queued jobs to this process. "
        "Web processes do this on their first request; run it after restarting workers."
    )

    def handle(self, *args, **options):
        outcome = job_recover()
        from jobs.worker import local_worker

        local_worker().wait(timeout=24 * 3600)
        self.stdout.write(json.dumps(outcome))
