"""The MGD-SAM2 network as plain nn.Modules: encoder -> decoder fusion -> DRM."""
