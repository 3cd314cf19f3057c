"""Names and formats shared by infra, training and serving: each defined once, used on every side."""
