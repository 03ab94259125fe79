# The stimulus sets that exist were drawn with draw rule v1 (target draws keyed by seed
# and trial position only). They are marked so, and new sets default to v2.
# Frozen sets are guarded by the model's save() and the queryset; adding a column with a
# default touches neither, so frozen rows keep every value they had and gain "v1".

from django.db import migrations, models

CHOICES = [
    ("v1", "v1: target draws keyed by (seed, position), shared by every reducer"),
    ("v2", "v2: target draws keyed by (seed, reducer, position); blank maps never shown"),
]
HELP = "The sampling rule that drew the trials; a rebuild uses the same rule."


class Migration(migrations.Migration):
    dependencies = [
        ("explainers", "0002_move_job_to_jobs_app"),
    ]

    operations = [
        # Existing rows get "v1" from the column default ...
        migrations.AddField(
            model_name="stimulusset",
            name="draw_rule",
            field=models.CharField(
                choices=CHOICES, default="v1", editable=False, help_text=HELP, max_length=10
            ),
        ),
        # ... and rows created from now on get "v2".
        migrations.AlterField(
            model_name="stimulusset",
            name="draw_rule",
            field=models.CharField(
                choices=CHOICES, default="v2", editable=False, help_text=HELP, max_length=10
            ),
        ),
        migrations.AddConstraint(
            model_name="stimulusset",
            constraint=models.CheckConstraint(
                condition=models.Q(("draw_rule__in", ["v1", "v2"])),
                name="stimulus_set_known_draw_rule",
            ),
        ),
    ]
