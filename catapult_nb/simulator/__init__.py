"""The embedded Catapult v1 simulator (work in progress: the engine comes first)."""
