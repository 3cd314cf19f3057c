"""Driving the platform's Pulumi stacks and checking what they leave behind (previews, engine tier)."""
