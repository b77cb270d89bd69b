"""Request building, signing, sending and retrying."""
