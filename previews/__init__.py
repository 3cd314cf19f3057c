"""Preview environments: one short-lived Pulumi stack (and namespace) per branch or pull request.

`python -m previews create|destroy|list|gc`; see docs/previews.md.
"""
