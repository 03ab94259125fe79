# Job moved to the jobs app (see jobs/migrations/0001_initial.py): only the state goes.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("explainers", "0001_initial"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="Job")],
        ),
    ]
