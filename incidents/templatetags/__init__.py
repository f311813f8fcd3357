"""Template tags of the base app (formatting only; may import models)."""
