"""Model card templates, installed as `infogan_hub.model_cards` (see pyproject.toml)."""
