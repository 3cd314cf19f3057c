"""Day-2 operations on a running stack: restoring MLflow from the backup CronJob's files."""
