"""Template tags of the reviews app (may import models of the base app and of this app)."""
