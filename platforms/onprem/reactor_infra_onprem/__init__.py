from .platform import OnpremPlatform

platform = OnpremPlatform()

