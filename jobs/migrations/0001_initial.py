# The Job model moves here from the explainers app with its rows: this migration only
# takes over the model's state (the table explainers_job already exists); 0002 renames
# the table, so no row is copied and none can be lost.

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("explainers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Job',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=50)),
                        ('params', models.JSONField(default=dict)),
                        ('idempotency_key', models.CharField(db_index=True, editable=False, max_length=64)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='queued', max_length=10)),
                        ('progress', models.FloatField(default=0.0, help_text='Percent done.')),
                        ('step', models.CharField(blank=True, help_text='What the job is doing now.', max_length=300)),
                        ('error', models.TextField(blank=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('result', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'explainers_job',
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status__in', ['queued', 'running'])), fields=('idempotency_key',), name='one_active_job_per_key'), models.CheckConstraint(condition=models.Q(('progress__gte', 0), ('progress__lte', 100)), name='job_progress_percent')],
                    },
                ),
            ],
        ),
    ]
