"""Client for the LLM inference API: requests are signed with the caller's AWS credentials (SigV4)."""
