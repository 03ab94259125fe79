"""Django app: studies, groups, participants and the participant pages."""
