"""Retrain trigger: an Alertmanager webhook receiver that starts one retraining per drift-alert episode."""
