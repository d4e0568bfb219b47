"""The one follow mechanism: event sources, positions kept beside their effects, follow loops."""
