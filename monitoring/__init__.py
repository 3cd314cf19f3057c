"""Monitoring as code: alert rules, scrape configuration and Grafana dashboards, built in Python."""
