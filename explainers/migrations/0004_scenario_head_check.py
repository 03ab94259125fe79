# Scenarios record the check that the head after their layer reproduces the classifier's
# logits. Existing scenarios start unchecked (null) and are checked before their next fit.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("explainers", "0003_stimulusset_draw_rule"),
    ]

    operations = [
        migrations.AddField(
            model_name="scenario",
            name="head_checked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="scenario",
            name="head_max_difference",
            field=models.FloatField(
                blank=True,
                editable=False,
                help_text="Largest |head(E(I)) − F(I)| over the logits of the check images.",
                null=True,
            ),
        ),
    ]
