# The moved Job table takes the jobs app's name, its content type follows (so admin
# history and permissions stay attached), and jobs learn who runs them.

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="jobs", model="job").exists():
        ContentType.objects.filter(app_label="explainers", model="job").update(app_label="jobs")


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="explainers", model="job").exists():
        ContentType.objects.filter(app_label="jobs", model="job").update(app_label="explainers")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("explainers", "0002_move_job_to_jobs_app"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="job", table=None),
        migrations.RunPython(move_content_type, restore_content_type),
        migrations.AddField(
            model_name="job",
            name="worker",
            field=models.CharField(
                blank=True,
                help_text="host:pid of the process running it (or that last ran it).",
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="heartbeat_at",
            field=models.DateTimeField(
                blank=True, help_text="Last sign of life of the process running it.", null=True
            ),
        ),
    ]
