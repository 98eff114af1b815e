"""SMART App Launch client: discovery, PKCE, loopback redirect, tokens and the keyring."""
